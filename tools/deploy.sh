#!/usr/bin/env bash
# Deploy the summariser with CloudFormation (template.json) and talk to the deployed stack.
#
#   tools/deploy.sh deploy [Key=Value ...]   upload the zip (ZIP, or the one for the stack's Architecture), create/update
#                                            the stack, print InvokeUrl
#   tools/deploy.sh delete                   delete the stack after a confirmation; says which log groups go and which stay
#   tools/deploy.sh invoke-remote            POST events/article.txt (text/plain) to the stack's InvokeUrl, with the
#                                            API key (AuthMode api-key) or signed with SigV4 (AuthMode iam)
#   tools/deploy.sh logs                     follow the function's log group (bounded: LOGS_SECONDS)
#   tools/deploy.sh alarms                   each of the stack's alarms: state, name, why
#   tools/deploy.sh rehearse [Key=Value ...] run `deploy` against a throw-away moto_server on 127.0.0.1
#
# Key=Value arguments are extra template parameters, e.g. AuthMode=iam CorsAllowedOrigin=https://app.example.com.
# AuthMode defaults to api-key; AuthMode=none (an open API) is deployed with a warning.
#
# Environment:
#   STACK           stack name (default sagemaker-summarizer); also the function and API name
#   ZIP             the package to deploy, as it is (nothing is built); default by Architecture:
#                   x86_64 dist/summarizer-lambda.zip, arm64 dist/summarizer-lambda-arm64.zip
#   CONFIRM         delete without asking when it is the stack's name (for scripts)
#   ENDPOINT_NAME   SageMaker endpoint to call (lower case); required when the stack does not exist yet
#   BUCKET          S3 bucket for the code package; default sagemaker-summarizer-artifacts-<account>-<region>,
#                   created (private, owned by this account) if it does not exist
#   PERMISSIONS_BOUNDARY  managed policy ARN set as the boundary of the stack's roles (PermissionsBoundaryArn);
#                   required when deploying with docs/deployer-policy.json
#   AWS_REGION / AWS_DEFAULT_REGION / the CLI profile's region: where to deploy
#   AWS_ENDPOINT_URL  send every AWS call there (moto_server, LocalStack); honoured by the CLI itself
#                     (botocore >= 1.31), so it reaches the S3 upload inside `package` too
#   ARTICLE         file invoke-remote sends (default events/article.txt)
#   INVOKE_URL      where invoke-remote POSTs instead of the stack's InvokeUrl (a custom domain name)
#   LOGS_SINCE      how far back logs starts (default 10m; s, m, h or d)
#   LOGS_SECONDS    how long logs follows before it stops (default 300), LOGS_POLL_SECONDS between polls (default 2)
#
# Needs the AWS CLI (v1 or v2), curl, python3 (for `logs` on CLI v1, `rehearse`, and invoke-remote with AuthMode iam).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

STACK=${STACK:-sagemaker-summarizer}
PACKAGED=dist/packaged.json

die() { echo "deploy.sh: $*" >&2; exit 1; }
say() { echo "deploy.sh: $*" >&2; }

region() {
    local r=${AWS_REGION:-${AWS_DEFAULT_REGION:-}}
    [[ -n "$r" ]] || r=$(aws configure get region 2>/dev/null || true)
    [[ -n "$r" ]] || die "no region: set AWS_REGION (or AWS_DEFAULT_REGION, or a region in the CLI profile)"
    echo "$r"
}

# The CLI v1 reads AWS_DEFAULT_REGION, not AWS_REGION: pin one region for every call below.
use_region() {
    AWS_DEFAULT_REGION=$(region)
    export AWS_DEFAULT_REGION
}

stack_exists() {
    aws cloudformation describe-stacks --stack-name "$STACK" >/dev/null 2>&1
}

stack_status() {
    aws cloudformation describe-stacks --stack-name "$STACK" --query 'Stacks[0].StackStatus' --output text 2>/dev/null || true
}

stack_parameter() {
    aws cloudformation describe-stacks --stack-name "$STACK" \
        --query "Stacks[0].Parameters[?ParameterKey=='$1'].ParameterValue | [0]" --output text 2>/dev/null || true
}

# The value of Key among Key=Value arguments, else the existing stack's, else DEFAULT.
parameter_value() {
    local key=$1 default=$2 value="" argument
    shift 2
    for argument in "$@"; do
        [[ "$argument" == "$key="* ]] && value=${argument#*=}
    done
    [[ -n "$value" ]] || value=$(stack_parameter "$key")
    [[ -n "$value" && "$value" != "None" ]] || value=$default
    echo "$value"
}

# The package for the function's instruction set; another helper's `make package ARCH=arm64` builds the arm64 one.
zip_for() {
    case "$1" in
        x86_64) echo dist/summarizer-lambda.zip ;;
        arm64) echo dist/summarizer-lambda-arm64.zip ;;
        *) die "Architecture $1: the template allows x86_64 or arm64" ;;
    esac
}

stack_output() {
    local value
    value=$(aws cloudformation describe-stacks --stack-name "$STACK" \
        --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue | [0]" --output text) \
        || die "cannot read stack $STACK (deployed? right region/account?)"
    [[ "$value" != "None" ]] || value=""
    echo "$value"
}

# Refuses every request to BUCKET that does not come over TLS.
tls_only_policy() {
    printf '{"Version":"2012-10-17","Statement":[{"Sid":"TlsOnly","Effect":"Deny","Principal":"*","Action":"s3:*",%s}]}' \
        "\"Resource\":[\"arn:aws:s3:::$1\",\"arn:aws:s3:::$1/*\"],\"Condition\":{\"Bool\":{\"aws:SecureTransport\":\"false\"}}"
}

# The artifact bucket: $BUCKET, or one per account and region that this script creates once.
artifact_bucket() {
    if [[ -n "${BUCKET:-}" ]]; then
        echo "$BUCKET"
        return
    fi
    local account bucket
    account=$(aws sts get-caller-identity --query Account --output text) || die "cannot identify the AWS account (credentials?)"
    bucket="sagemaker-summarizer-artifacts-$account-$AWS_DEFAULT_REGION"
    if aws s3api head-bucket --bucket "$bucket" --expected-bucket-owner "$account" >/dev/null 2>&1; then
        bucket_rules "$bucket"
        echo "$bucket"
        return
    fi
    say "creating artifact bucket $bucket"
    if [[ "$AWS_DEFAULT_REGION" == "us-east-1" ]]; then
        aws s3api create-bucket --bucket "$bucket" >/dev/null
    else
        aws s3api create-bucket --bucket "$bucket" \
            --create-bucket-configuration "LocationConstraint=$AWS_DEFAULT_REGION" >/dev/null
    fi || die "cannot create $bucket (taken by another account? set BUCKET)"
    aws s3api put-public-access-block --bucket "$bucket" --public-access-block-configuration \
        BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true
    bucket_rules "$bucket"
    echo "$bucket"
}

# On every deploy, so a bucket made before these rules gets them too: TLS only, and packages and
# templates gone after 90 days (a rollback needs the previous ones; Lambda keeps its own copy of
# the code it runs).
bucket_rules() {
    if [[ "${AWS_ENDPOINT_URL:-}" == http://* ]]; then
        # Only a local stand-in answers plain http (AWS's endpoints are https); a TLS-only bucket
        # would refuse this very upload there.
        say "AWS_ENDPOINT_URL is plain http: $1 is not made TLS-only"
    else
        aws s3api put-bucket-policy --bucket "$1" --policy "$(tls_only_policy "$1")"
    fi
    aws s3api put-bucket-lifecycle-configuration --bucket "$1" --lifecycle-configuration '{"Rules":[{
        "ID":"OldPackages","Status":"Enabled","Filter":{"Prefix":""},"Expiration":{"Days":90},
        "AbortIncompleteMultipartUpload":{"DaysAfterInitiation":7}}]}'
}

cmd_deploy() {
    use_region
    local overrides=("$@") status architecture zip
    status=$(stack_status)
    if [[ "$status" == "ROLLBACK_COMPLETE" ]]; then
        die "stack $STACK is in ROLLBACK_COMPLETE: its first create failed and was rolled back, and CloudFormation cannot update it. Why: aws cloudformation describe-stack-events --stack-name $STACK. Then make delete (STACK=$STACK) and deploy again."
    fi
    architecture=$(parameter_value Architecture x86_64 "$@")
    zip=${ZIP:-$(zip_for "$architecture")}
    if [[ ! -f "$zip" ]]; then
        if [[ -n "${ZIP:-}" ]]; then die "ZIP=$zip: no such file"; fi
        case "$architecture" in
            arm64) die "$zip is missing: build the arm64 package first (make package ARCH=arm64), or pass ZIP=path" ;;
            *) die "$zip is missing: build it first (make package), or pass ZIP=path" ;;
        esac
    fi
    if [[ -n "${PERMISSIONS_BOUNDARY:-}" ]]; then
        overrides=("PermissionsBoundaryArn=$PERMISSIONS_BOUNDARY" "${overrides[@]}")
    fi
    if [[ -n "${ENDPOINT_NAME:-}" ]]; then
        overrides=("EndpointName=$ENDPOINT_NAME" "${overrides[@]}")
    elif [[ -z "$status" ]]; then
        die "set ENDPOINT_NAME to the SageMaker endpoint to call (the stack $STACK does not exist yet)"
    fi
    # Access logs need the account's API Gateway logging role; the stack sets one only when the
    # account has none (ConfigureApiGatewayAccount, kept by later updates) or when asked to.
    if [[ -z "$status" && " $* " != *" ConfigureApiGatewayAccount="* ]]; then
        local role
        role=$(aws apigateway get-account --query cloudwatchRoleArn --output text 2>/dev/null || true)
        if [[ -z "$role" || "$role" == "None" ]]; then
            say "the account has no API Gateway logging role (aws apigateway get-account): the stack sets one (ConfigureApiGatewayAccount=true)"
            overrides+=("ConfigureApiGatewayAccount=true")
        fi
    fi
    local bucket
    bucket=$(artifact_bucket)

    say "packaging $zip ($architecture) into s3://$bucket/$STACK/"
    mkdir -p dist
    # The template names the default package; `package` uploads whatever Function.Code names.
    python3 - "$zip" dist/template-deploy.json <<'PY'
import json, os, sys
with open("template.json") as f:
    template = json.load(f)
template["Resources"]["Function"]["Properties"]["Code"] = os.path.abspath(sys.argv[1])
with open(sys.argv[2], "w") as f:
    json.dump(template, f, indent=2)
PY
    aws cloudformation package --template-file dist/template-deploy.json --s3-bucket "$bucket" --s3-prefix "$STACK" \
        --use-json --output-template-file "$PACKAGED" >/dev/null

    say "deploying stack $STACK in $AWS_DEFAULT_REGION"
    # Parameters not given keep their previous value on an update (the CLI sends UsePreviousValue).
    # The template is over CloudFormation's 51,200-byte limit for inline templates: it goes
    # through the artifact bucket too.
    local args=(--template-file "$PACKAGED" --stack-name "$STACK" --capabilities CAPABILITY_IAM
        --s3-bucket "$bucket" --s3-prefix "$STACK"
        --no-fail-on-empty-changeset --tags "application=sagemaker-summarizer")
    if (( ${#overrides[@]} )); then
        args+=(--parameter-overrides "${overrides[@]}")
    fi
    # Progress to stderr: stdout is only the URL, for scripts.
    aws cloudformation deploy "${args[@]}" >&2

    local url mode
    url=$(stack_output InvokeUrl)
    [[ -n "$url" ]] || die "the stack has no InvokeUrl output"
    mode=$(stack_output AuthMode)
    case "$mode" in
        api-key) say "AuthMode api-key: callers send the key as x-api-key (make invoke-remote reads it; ApiKeyId output)" ;;
        iam) say "AuthMode iam: callers sign with SigV4 and need execute-api:Invoke on $(stack_output InvokeArn)" ;;
        none) say "WARNING: AuthMode none: $url is open to anyone who finds it, and every request runs the model at your cost. Redeploy with AuthMode=api-key or AuthMode=iam." ;;
    esac
    local dashboard
    dashboard=$(stack_output DashboardUrl)
    [[ -z "$dashboard" ]] || say "dashboard: $dashboard"
    echo "$url"
}

# The stack's own alarms, by the names CloudFormation gave them (not a name prefix, which another
# stack's alarms could share): state, name and CloudWatch's reason for the state.
cmd_alarms() {
    use_region
    local names
    names=$(aws cloudformation describe-stack-resources --stack-name "$STACK" \
        --query "StackResources[?ResourceType=='AWS::CloudWatch::Alarm'].PhysicalResourceId" --output text) \
        || die "cannot read stack $STACK (deployed? right region/account?)"
    [[ -n "$names" && "$names" != "None" ]] || die "stack $STACK has no alarms"
    # shellcheck disable=SC2086  # one argument per alarm name (names have no spaces)
    aws cloudwatch describe-alarms --alarm-names $names \
        --query 'MetricAlarms[].[StateValue,AlarmName,StateReason]' --output text
}

cmd_invoke_remote() {
    use_region
    local article=${ARTICLE:-events/article.txt} url mode
    [[ -f "$article" ]] || die "no article at $article"
    url=${INVOKE_URL:-$(stack_output InvokeUrl)}
    [[ -n "$url" ]] || die "stack $STACK has no InvokeUrl output"
    mode=$(stack_output AuthMode)
    say "POST $article to $url (AuthMode ${mode:-unknown})"
    case "$mode" in
        iam)
            # curl's --aws-sigv4 cannot take credentials from a profile, SSO or a role: botocore can.
            python3 tools/invoke_iam.py "$url" "$article" "$AWS_DEFAULT_REGION"
            ;;
        api-key)
            local key_id key
            key_id=$(stack_output ApiKeyId)
            [[ -n "$key_id" ]] || die "stack $STACK has AuthMode api-key but no ApiKeyId output"
            key=$(aws apigateway get-api-key --api-key "$key_id" --include-value --query value --output text) \
                || die "cannot read API key $key_id (apigateway:GET on /apikeys/$key_id)"
            # Through a file descriptor, so the key is not in the process list.
            exec 3<<<"x-api-key: $key"
            curl --silent --show-error --max-time 35 --fail-with-body -X POST \
                -H "Content-Type: text/plain; charset=utf-8" -H @/dev/fd/3 --data-binary "@$article" "$url"
            ;;
        *)
            curl --silent --show-error --max-time 35 --fail-with-body -X POST \
                -H "Content-Type: text/plain; charset=utf-8" --data-binary "@$article" "$url"
            ;;
    esac
    echo
}

cmd_delete() {
    use_region
    local status
    status=$(stack_status)
    [[ -n "$status" ]] || { say "stack $STACK does not exist in $AWS_DEFAULT_REGION: nothing to delete"; return 0; }
    if [[ "$status" == "ROLLBACK_COMPLETE" ]]; then
        say "stack $STACK is in ROLLBACK_COMPLETE: its first create failed and was rolled back, so nothing of it runs; deleting it lets you deploy again"
    fi
    local resources
    resources=$(aws cloudformation describe-stack-resources --stack-name "$STACK" \
        --query 'StackResources[].[ResourceType,PhysicalResourceId,LogicalResourceId]' --output text)
    say "deleting stack $STACK ($status) in $AWS_DEFAULT_REGION"
    local kind physical logical
    while read -r kind physical logical; do
        case "$kind" in
            AWS::Logs::LogGroup) say "  goes with the stack: log group $physical" ;;
        esac
    done <<<"$resources"
    local endpoint
    endpoint=$(stack_parameter EndpointName)
    if [[ -n "$endpoint" && "$endpoint" != "None" && "$resources" != *"/aws/sagemaker/Endpoints/$endpoint"* ]]; then
        say "  stays: log group /aws/sagemaker/Endpoints/$endpoint (the endpoint's, not created by this stack)"
    fi
    if [[ "$resources" == *ApiGatewayCloudWatchRole* ]]; then
        say "  stays: API Gateway's account logging role and setting (other APIs may log through it), and the"
        say "         API-Gateway-Execution-Logs_* groups API Gateway itself may have created"
    fi
    say "  stays: the artifact bucket and its packages (they expire after 90 days)"
    if [[ "${CONFIRM:-}" != "$STACK" ]]; then
        [[ -t 0 ]] || die "not deleting: no terminal to confirm on; set CONFIRM=$STACK to delete without asking"
        local answer
        read -r -p "Type the stack name ($STACK) to delete it: " answer
        [[ "$answer" == "$STACK" ]] || die "not deleted: the answer was not $STACK"
    fi
    aws cloudformation delete-stack --stack-name "$STACK"
    aws cloudformation wait stack-delete-complete --stack-name "$STACK" \
        || die "the deletion did not complete: aws cloudformation describe-stack-events --stack-name $STACK"
    say "deleted stack $STACK"
}

# Seconds from 30s / 10m / 2h / 1d (or a bare number of seconds).
seconds_of() {
    local value=$1 number unit
    [[ "$value" =~ ^([0-9]+)([smhd]?)$ ]] || die "bad duration $value (use e.g. 30s, 10m, 2h, 1d)"
    number=${BASH_REMATCH[1]}
    unit=${BASH_REMATCH[2]}
    case "$unit" in
        h) echo $(( number * 3600 )) ;;
        d) echo $(( number * 86400 )) ;;
        m) echo $(( number * 60 )) ;;
        *) echo "$number" ;;
    esac
}

cmd_logs() {
    use_region
    local group since follow poll
    group=$(stack_output LogGroupName)
    [[ -n "$group" ]] || die "stack $STACK has no LogGroupName output"
    since=$(seconds_of "${LOGS_SINCE:-10m}")
    follow=$(seconds_of "${LOGS_SECONDS:-300}")
    poll=$(seconds_of "${LOGS_POLL_SECONDS:-2}")
    say "following $group for ${follow}s (LOGS_SECONDS)"

    # CLI v2 has `logs tail`; v1 does not, so poll filter-log-events there.
    if aws logs tail help >/dev/null 2>&1; then
        timeout --foreground "$follow" aws logs tail "$group" --follow --since "${since}s" --format short || true
        return
    fi

    local state
    state=$(mktemp -d)
    trap 'rm -rf "$state"' RETURN
    local start_ms=$(( ($(date +%s) - since) * 1000 ))
    local deadline=$(( $(date +%s) + follow ))
    echo "$start_ms" >"$state/start"
    : >"$state/seen"
    while :; do
        # The window restarts at the newest timestamp seen, and event ids already printed are
        # skipped: events that share that millisecond are neither lost nor printed twice.
        aws logs filter-log-events --log-group-name "$group" --start-time "$(cat "$state/start")" \
            --output json >"$state/page.json"
        python3 - "$state" <<'PY'
import datetime, json, os, sys
state = sys.argv[1]
with open(os.path.join(state, "page.json")) as f:
    events = json.load(f).get("events", [])
with open(os.path.join(state, "seen")) as f:
    seen = set(f.read().split())
start = int(open(os.path.join(state, "start")).read())
events.sort(key=lambda e: (e["timestamp"], e.get("eventId", "")))
with open(os.path.join(state, "seen"), "a") as out:
    for event in events:
        if event["eventId"] in seen:
            continue
        seen.add(event["eventId"])
        out.write(event["eventId"] + "\n")
        when = datetime.datetime.fromtimestamp(event["timestamp"] / 1000, datetime.timezone.utc)
        print(when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z", event["message"].rstrip("\n"), flush=True)
        start = max(start, event["timestamp"])
with open(os.path.join(state, "start"), "w") as f:
    f.write(str(start))
PY
        (( $(date +%s) + poll < deadline )) || break
        sleep "$poll"
    done
}

# `deploy` against a moto_server started here on 127.0.0.1 with fake credentials: checks the
# template and this script's CloudFormation wiring without an AWS account. Nothing runs the function.
cmd_rehearse() {
    python3 -c 'import moto.server' 2>/dev/null || die "moto is not installed: pip install -r requirements-dev.txt"
    # Globals, not locals: the EXIT trap runs after this function has returned.
    local port
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
    moto_dir=$(mktemp -d)
    # moto with corrections where it differs from CloudFormation, see tests/deploy/moto_server.py.
    python3 tests/deploy/moto_server.py -H 127.0.0.1 -p "$port" >"$moto_dir/moto.log" 2>&1 &
    moto_pid=$!
    trap 'kill "$moto_pid" 2>/dev/null; wait "$moto_pid" 2>/dev/null; rm -rf "$moto_dir"' EXIT
    local waited=0
    until curl --silent --max-time 1 --output /dev/null "http://127.0.0.1:$port/moto-api/"; do
        (( waited++ < 100 )) || { cat "$moto_dir/moto.log" >&2; die "moto_server did not start on 127.0.0.1:$port"; }
        kill -0 "$moto_pid" 2>/dev/null || { cat "$moto_dir/moto.log" >&2; die "moto_server exited"; }
        sleep 0.2
    done
    # Only the fake account: no profile, no real credentials, no real endpoint.
    unset AWS_PROFILE AWS_SESSION_TOKEN AWS_SECURITY_TOKEN AWS_ENDPOINT_URL_S3 AWS_ENDPOINT_URL_CLOUDFORMATION AWS_REGION BUCKET
    export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
    export AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
    export ENDPOINT_NAME=${ENDPOINT_NAME:-summarizer-rehearsal}
    say "rehearsing against moto_server at $AWS_ENDPOINT_URL"
    cmd_deploy "$@"
    aws cloudformation describe-stacks --stack-name "$STACK" --query 'Stacks[0].StackStatus' --output text
    aws cloudformation list-stack-resources --stack-name "$STACK" \
        --query 'StackResourceSummaries[].[LogicalResourceId,ResourceType,ResourceStatus]' --output text
}

case "${1:-}" in
    deploy) shift; cmd_deploy "$@" ;;
    delete) shift; cmd_delete "$@" ;;
    invoke-remote) shift; cmd_invoke_remote "$@" ;;
    logs) shift; cmd_logs "$@" ;;
    alarms) shift; cmd_alarms "$@" ;;
    rehearse) shift; cmd_rehearse "$@" ;;
    *) awk 'NR > 1 && !/^#/ { exit } NR > 1' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac

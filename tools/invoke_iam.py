#!/usr/bin/env python3
"""POST a file to an API Gateway URL with AuthMode iam: the request signed with SigV4 (service execute-api).

  tools/invoke_iam.py URL FILE REGION

Credentials come from botocore's usual chain (environment, profile, SSO, instance role), the ones
the AWS CLI uses; they are never printed. Prints the answer's body; exits 1 on an HTTP error
status (after printing the body, like curl --fail-with-body), 2 when the URL cannot be reached.
"""

import sys
import urllib.error
import urllib.request

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest


def main() -> int:
    url, path, region = sys.argv[1:4]
    credentials = botocore.session.get_session().get_credentials()
    if credentials is None:
        print("invoke_iam: no AWS credentials to sign with (aws configure, or AWS_PROFILE)", file=sys.stderr)
        return 2
    with open(path, "rb") as f:
        body = f.read()
    request = AWSRequest(method="POST", url=url, data=body,
                         headers={"Content-Type": "text/plain; charset=utf-8"})
    SigV4Auth(credentials.get_frozen_credentials(), "execute-api", region).add_auth(request)
    prepared = urllib.request.Request(url, data=body, method="POST", headers=dict(request.headers.items()))
    try:
        with urllib.request.urlopen(prepared, timeout=35) as response:
            sys.stdout.write(response.read().decode("utf-8", "replace"))
            return 0
    except urllib.error.HTTPError as error:
        sys.stdout.write(error.read().decode("utf-8", "replace"))
        print(f"\ninvoke_iam: HTTP {error.code} from {url}", file=sys.stderr)
        return 1
    except urllib.error.URLError as error:
        print(f"invoke_iam: cannot reach {url}: {error.reason}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

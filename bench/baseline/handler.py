"""The Python baseline: the original handler the Swift bootstrap replaces.

It sends the event as is to the SageMaker endpoint and returns the model's
JSON answer, with boto3, on AWS's Python runtime interface client
(awslambdaric), which is what the managed Python runtime runs.

The client is created once, at import (the Lambda init phase), as AWS
recommends and as such handlers are written, so warm invocations reuse its
connection pool.  No endpoint_url is passed: botocore (>= 1.31) reads
AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME itself, which is how the benchmark points
it at the stand-in (bench/run.py checks that the stand-in did get the calls).
"""

import json
import os

import boto3

client = boto3.client("sagemaker-runtime")


def handler(event, context):
    response = client.invoke_endpoint(
        EndpointName=os.environ["ENDPOINT_NAME"],
        ContentType="application/json",
        Body=json.dumps(event),
    )
    return json.loads(response["Body"].read())

"""`python -m devkit deploy | destroy`: the manifest becomes a CloudFormation stack on AWS.

- `template`: manifest -> CloudFormation template as plain dicts (pure, no AWS call).
- `package`: reproducible function zips for the Lambda platform, requirements cached under build/.
- `stack`: the deployment bucket, uploads, change sets, stack events, outputs, deletion (boto3).
- `command`: the `deploy` and `destroy` commands wiring the three with progress output.
- `static_handler`: the generated Lambda that serves `public/` at `/_static/*` (bundled, never imported).
"""

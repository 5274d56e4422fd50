"""A packaged CloudFormation template without what changes from one build to the next.

    python tests/support/stack_templates.py TEMPLATE.json > tests/stacks/NAME.json

Each build names its version after the code's hash, its API Gateway deployment after
the time, and stamps the S3 key of the zip; everything else is the stack as reviewed.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

# Run as a script too: no import of the other helpers.
STACKS = Path(__file__).resolve().parents[1] / "stacks"
_PER_BUILD = [
    (re.compile(r"ApiLambdaVersion[A-Za-z0-9]+"), "ApiLambdaVersion<code hash>"),
    (re.compile(r"ApiGatewayDeployment[0-9]+"), "ApiGatewayDeployment<time>"),
    (re.compile(r'"CodeSha256": "[^"]*"'), '"CodeSha256": "<code hash>"'),
    (re.compile(r'"S3Key": "[^"]*/([^/"]+)"'), r'"S3Key": "<build>/\1"'),
]


def normalized(template: dict[str, Any]) -> dict[str, Any]:
    text = json.dumps(template)
    for pattern, replacement in _PER_BUILD:
        text = pattern.sub(replacement, text)
    stable: dict[str, Any] = json.loads(text)
    return stable


if __name__ == "__main__":
    template = json.loads(Path(sys.argv[1]).read_text())
    json.dump(normalized(template), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")

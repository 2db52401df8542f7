"""Run several datacontract-cli commands in one process of the contracts venv
(``.venv-contracts/bin/python tests/datacontract_batch.py``): the CLI's own typer app,
invoked once per command, so each contract costs its check and not another start of
datacontract-cli (about 2 s of imports). Reads a JSON list of argument lists on stdin,
writes a JSON list of {"code", "stdout"} on stdout."""

from __future__ import annotations

import contextlib
import io
import json
import sys


def main() -> None:
    from datacontract.cli import app

    results = []
    for args in json.loads(sys.stdin.read()):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            try:
                code = app(args, standalone_mode=False, prog_name="datacontract")
            except SystemExit as done:
                code = done.code
        results.append({"code": int(code or 0), "stdout": out.getvalue()})
    sys.stdout.write(json.dumps(results))


if __name__ == "__main__":
    main()

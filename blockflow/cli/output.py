"""How the CLI prints results and errors (table for people, JSON for scripts)."""

import json
import sys

from oslo_utils import strutils


def print_json(data, stream=None):
    stream = stream or sys.stdout
    text = json.dumps(data, indent=2, sort_keys=True, default=str)
    stream.write(strutils.mask_password(text) + '\n')


def print_error(exc, fmt='table'):
    if fmt == 'json':
        print_json(exc.to_dict())
    else:
        message = strutils.mask_password(exc.message)
        print(f'{exc.error_class}: {message}', file=sys.stderr)

"""How the CLI prints results and errors (table for people, JSON for scripts)."""

import json
import re
import sys

from blockflow import secrets


# A refusal is one line: control characters from the user's input are escaped.
_CONTROL = re.compile(r'[\x00-\x1f\x7f]')


def print_json(data, stream=None, indent=2):
    # Mask the structure, not the text: oslo's text masking can eat JSON.
    stream = stream or sys.stdout
    text = json.dumps(secrets.mask(data), indent=indent, sort_keys=True, default=str)
    stream.write(text + '\n')


def print_error(exc, fmt='table'):
    if fmt == 'json':
        print_json(exc.to_dict())
    else:
        message = _CONTROL.sub(lambda m: repr(m.group())[1:-1], secrets.mask_text(exc.message))
        print(f'{exc.error_class}: {message}', file=sys.stderr)

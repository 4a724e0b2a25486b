"""``python -m blockflow.cloud``: the embedded cloud for tests and scripts.

Failures of its environment (a busy port, an unknown latency profile) end in
one line on stderr, exit 1, as ``blockflow cloud serve`` reports them.
"""

import sys

from blockflow.cloud.server import main


def _profile_refused(argv):
    """A --latency-profile that names nothing: its one line, else None."""
    if '--latency-profile' not in argv[:-1]:
        return None
    from blockflow import exceptions
    from blockflow.cli import cloudopts
    try:
        cloudopts.check_latency_profile(argv[argv.index('--latency-profile') + 1])
    except exceptions.UsageError as exc:
        return f'UsageError: {exc.message}'
    return None


def _run():
    refused = _profile_refused(sys.argv[1:])
    if refused:
        print(refused, file=sys.stderr)
        return 2
    try:
        return main()
    except (OSError, ValueError) as exc:
        from blockflow.cli import errors
        known = errors.explain(exc)
        errors.print_line(f'{known.error_class}: {known.message}' if known is not None
                          else f'{type(exc).__name__}: {exc}')
        return 1


sys.exit(_run())

"""How a command ends: one line on stderr and an exit code, a traceback only with --debug.

Refusals (BlockflowError) keep their class and message; environment failures
(busy port, missing database driver, jobboard down, unknown URL scheme) become
one line naming the thing and what to do. Exit 1, or 2 for usage errors.
"""

import errno
import os
import re
import sys

from blockflow import exceptions

# URL scheme (or driver module) -> the setup.cfg extra that installs its driver.
EXTRAS = {'mysql': 'mysql', 'pymysql': 'mysql', 'MySQLdb': 'mysql', 'mysqlclient': 'mysql',
          'postgresql': 'postgresql', 'psycopg2': 'postgresql', 'psycopg': 'postgresql',
          'zookeeper': 'zookeeper', 'kazoo': 'zookeeper'}


class EnvironmentFailure(exceptions.BlockflowError):
    """Something the command needs outside blockflow is missing or broken."""

    http_status = 503


def print_line(text):
    print(_one_line(text), file=sys.stderr)


def _one_line(text):
    text = ' '.join(str(text).split())
    return re.sub(r'[\x00-\x1f\x7f]', lambda m: repr(m.group())[1:-1], text)


def setup_logging(debug):
    import logging

    class _MaskingFormatter(logging.Formatter):
        def format(self, record):
            # Imported on the first record: oslo.utils costs start-up time.
            from blockflow import secrets
            return secrets.mask_text(super().format(record))

    class _CurrentStderr(logging.StreamHandler):
        """Writes to whatever sys.stderr is now (commands run in-process by tests)."""

        @property
        def stream(self):
            return sys.stderr

        @stream.setter
        def stream(self, _value):
            pass

    handler = _CurrentStderr()
    handler.setFormatter(_MaskingFormatter('%(levelname)s %(name)s: %(message)s'))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    quiet_libraries(debug)


def quiet_libraries(debug):
    """Libraries' log lines that repeat or precede what blockflow reports in one line."""
    import logging
    quiet = logging.DEBUG if debug else logging.ERROR
    # os-brick reports every initiator it cannot find; none of it is actionable here.
    logging.getLogger('os_brick').setLevel(quiet)
    # TaskFlow logs a traceback for every failed flow; blockflow reports the failure itself.
    logging.getLogger('taskflow').setLevel(logging.DEBUG if debug else logging.CRITICAL)
    # keystoneauth warns before it reports the same failure we turn into one line.
    logging.getLogger('keystoneauth').setLevel(quiet)
    # stevedore logs a driver it cannot import; blockflow names the missing extra instead.
    logging.getLogger('stevedore').setLevel(logging.DEBUG if debug else logging.CRITICAL)
    logging.getLogger('cliff').setLevel(quiet)


def load_config(files):
    for path in files:
        if not os.path.isfile(path):
            raise exceptions.UsageError(f'--config-file: {path} does not exist')
    if not files:
        return      # options keep their defaults; oslo.config is read when used
    from oslo_config import cfg

    from blockflow import conf
    try:
        conf.CONF(args=[], project='blockflow', default_config_files=files)
    except cfg.Error as exc:
        raise exceptions.UsageError(f'--config-file: {exc}')


def print_error(exc, fmt='table'):
    from blockflow.cli import output
    output.print_error(exc, fmt)


def missing_extra(module):
    """The one-line error for a driver module that is not installed, or None."""
    root = (module or '').split('.')[0]
    extra = EXTRAS.get(root)
    if extra is None:
        return None
    how = {'mysql': ' and write mysql+pymysql://...',
           'postgresql': ' and write postgresql+psycopg2://...'}.get(extra, '')
    return EnvironmentFailure(f'the {root} driver is not installed: '
                              f'pip install "blockflow[{extra}]"{how}')


def explain(exc):
    """A BlockflowError for an environment failure, or None if unknown."""
    if isinstance(exc, ModuleNotFoundError):
        return missing_extra(exc.name)
    if isinstance(exc, OSError) and (exc.errno == errno.EADDRINUSE
                                     or 'Address already in use' in str(exc)):
        where = re.search(r"\('([^']*)', (\d+)\)", str(exc))
        address = f'{where.group(1)}:{where.group(2)} ' if where else ''
        return EnvironmentFailure(f'address {address}already in use: choose another '
                                  '--port or stop what listens there')
    module = type(exc).__module__ or ''
    if module == 'sqlite3':     # the read-only views read sqlite files directly
        return EnvironmentFailure(f'--connection: database error: {str(exc).splitlines()[0]}')
    if module.startswith('sqlalchemy'):
        text = str(exc).splitlines()[0]
        if 'Can\'t load plugin' in text:
            scheme = text.rsplit(':', 1)[-1].strip().split('.')[0]
            return exceptions.UsageError(f'--connection: unknown database URL scheme '
                                         f'{scheme!r} (sqlite, mysql+pymysql, postgresql)')
        return EnvironmentFailure(f'--connection: database error: {text}')
    if module.startswith('redis'):
        return EnvironmentFailure(f'--jobboard: cannot reach Redis: {exc}')
    if module.startswith(('kazoo', 'taskflow')) and 'jobboard' in str(exc).lower():
        return EnvironmentFailure(f'--jobboard: {str(exc).splitlines()[0]}')
    return None


def run(cmd, parsed_args, debug):
    """Run one parsed command; its exit code."""
    fmt = getattr(parsed_args, 'formatter', 'table')
    fmt = fmt if fmt == 'json' else 'table'
    try:
        return cmd.run(parsed_args) or 0
    except exceptions.UsageError as exc:
        _debug_traceback(debug)
        print_error(exc, fmt)
        return 2
    except exceptions.BlockflowError as exc:
        _debug_traceback(debug)
        print_error(exc, fmt)
        return 1
    except KeyboardInterrupt:
        print('interrupted', file=sys.stderr)
        return 130
    except BrokenPipeError:
        raise
    except Exception as exc:
        _debug_traceback(debug)
        known = _explain_chain(exc)
        if known is not None:
            print_error(known, fmt)
            return 2 if isinstance(known, exceptions.UsageError) else 1
        print_line(f'{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ""}'
                   + ('' if debug else ' (run with --debug for the traceback)'))
        return 1


def _explain_chain(exc):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        known = explain(exc)
        if known is not None:
            return known
        exc = exc.__cause__ or exc.__context__
    return None


def _debug_traceback(debug):
    if debug:
        import traceback
        traceback.print_exc()

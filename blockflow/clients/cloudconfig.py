"""Which cloud a command talks to, chosen the way every OpenStack tool chooses it.

openstacksdk's ``openstack.config`` merges clouds.yaml, secure.yaml, ``OS_*``
variables and the ``--os-*`` options keystoneauth registers (auth plugin,
session and per-service adapter options, as osc-lib does) into a CloudRegion.
blockflow keeps of it only a *cloud reference*: which clouds.yaml entry (and
file), region, interface, endpoint overrides and non-secret auth values —
never a password, token or secret. The reference is persisted with a boot, so
``resume``, ``delete`` and conductors rebuild the same cloud in any process;
the secrets come back from clouds.yaml/secure.yaml or the environment.

The embedded cloud is reached like any other cloud: it publishes a clouds.yaml
in its home (``$XDG_STATE_HOME/blockflow/clouds/NAME``) and its reference
names that file. Nothing here imports ``blockflow.cloud``.
"""

import argparse
import logging
import os
import re
import threading
import warnings

from keystoneauth1 import adapter as ks_adapter
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import loading
from keystoneauth1 import session as ks_session
import requests

from blockflow import exceptions
from blockflow import statedir

LOG = logging.getLogger(__name__)


class _Deferred:
    """openstacksdk imported on first use: it costs ~0.3 s of every command's start."""

    def __init__(self, name):
        self._name = name

    def __getattr__(self, attr):
        import importlib
        return getattr(importlib.import_module(self._name), attr)


os_config = _Deferred('openstack.config')
os_exc = _Deferred('openstack.exceptions')
# openstacksdk warns about its (unused here) InfluxDB support on every CloudRegion.
warnings.filterwarnings('ignore', message='Support for InfluxDB')

# Services whose --os-SERVICE-endpoint-override / -api-version / -interface exist.
SERVICE_KEYS = ('volume', 'image', 'compute')
EMBEDDED_DEFAULT = 'default'
CLOUDS_YAML = 'clouds.yaml'
# A clouds.yaml key naming the entry whose credentials act as the service
# (Nova's service token: Cinder lets a service delete an in-use attachment).
SERVICE_CLOUD_KEY = 'blockflow_service_cloud'
# A clouds.yaml key the embedded cloud sets on its entries (its built-in flavors apply).
EMBEDDED_KEY = 'blockflow_embedded'
NOT_CONFIGURED = ('no cloud configured: give --os-cloud NAME (or OS_CLOUD) for a clouds.yaml '
                  'entry, OS_* variables / --os-auth-url options, or --embedded [NAME] for '
                  "blockflow's embedded cloud")
# Devices talk to Cinder in parallel: keep as many connections as they use
# (requests keeps 10 per host by default and opens a new one for every other call).
CONNECTIONS_PER_HOST = 128
# Auth values that are secrets: never in a reference, a flow, a record or a log.
_SECRET_WORDS = ('password', 'secret', 'token', 'passcode')
# Reference options copied from the merged config (all non-secret).
_OPTION_SUFFIXES = ('_endpoint_override', '_api_version', '_interface', '_service_type',
                    '_service_name', '_region_name')


# A load silences openstack.config's warnings, and catch_warnings changes the
# process-wide filters: one load at a time.
_LOAD_LOCK = threading.RLock()
_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$')


class CloudError(exceptions.BlockflowError):
    """The cloud cannot be used: unreachable, refused us, or lacks a service."""

    msg_fmt = '%(reason)s'
    http_status = 503


def is_secret(key):
    return any(word in key.lower() for word in _SECRET_WORDS)


def embedded_home(name=EMBEDDED_DEFAULT):
    if not name or not _NAME.match(name):
        raise exceptions.UsageError(
            f'--embedded: {name!r} is not a cloud name (letters, digits, - and _; '
            'put REQUEST.json before --embedded)')
    return statedir.state_path('clouds', name)


# --- command line ------------------------------------------------------------------

def _config(config_files=None, load_envvars=True, load_yaml_config=True,
            file_override=True):
    """An OpenStackConfig; ``file_override=False``: exactly ``config_files``, even
    when OS_CLIENT_CONFIG_FILE names another (a persisted boot's file wins).

    openstack.config reads OS_CLIENT_CONFIG_FILE only when it loads the
    environment, so a pinned load takes no ``OS_*`` at all. ``os.environ`` is never
    changed here: other threads' HTTP clients iterate it (requests reads the proxy
    variables on every call) and a key removed meanwhile fails their call."""
    if not file_override and load_envvars:
        raise ValueError('a pinned clouds.yaml is loaded without the OS_* variables')
    with _LOAD_LOCK, warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return _load_config(config_files, load_envvars, load_yaml_config)


def _load_config(config_files, load_envvars, load_yaml_config):
    return os_config.OpenStackConfig(config_files=config_files, load_envvars=load_envvars,
                                     load_yaml_config=load_yaml_config,
                                     session_constructor=make_session,
                                     app_name='blockflow')


def peek_auth_type(argv):
    """The auth type the chosen cloud uses, so its plugin's options get registered."""
    peek = argparse.ArgumentParser(add_help=False)
    peek.add_argument('--os-cloud', default=os.environ.get('OS_CLOUD'))
    options, _rest = peek.parse_known_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            region = _config().get_one(cloud=options.os_cloud, validate=False)
        return region.config.get('auth_type') or 'password'
    except Exception:   # unknown cloud, bad file: reported when the cloud is loaded
        return 'password'


def add_arguments(parser, argv, auth_type=None):
    """``--embedded``, ``--os-cloud`` and every keystoneauth option (``OS_*`` defaults).

    ``auth_type``: the plugin whose options to offer (default: peeked from argv,
    OS_AUTH_TYPE or the chosen clouds.yaml entry, as openstack.config does).
    """
    before = {action.dest for action in parser._actions}
    group = parser.add_argument_group(
        'cloud', 'clouds.yaml entry, OS_* variables or --os-* options, as the openstack CLI '
                 'takes them; or the embedded cloud')
    group.add_argument('--embedded', nargs='?', const=EMBEDDED_DEFAULT, metavar='NAME',
                       help="use blockflow's embedded cloud NAME (default: "
                            f'{EMBEDDED_DEFAULT}), kept in $XDG_STATE_HOME/blockflow/clouds/NAME')
    group.add_argument('--os-cloud', metavar='NAME', default=os.environ.get('OS_CLOUD'),
                       help='clouds.yaml entry (env OS_CLOUD)')
    try:
        loading.register_auth_argparse_arguments(
            parser, list(argv), default=auth_type or peek_auth_type(argv))
    except ks_exc.NoMatchingPlugin as exc:
        raise exceptions.UsageError(f'--os-auth-type: {exc}; known: '
                                    + ', '.join(sorted(loading.get_available_plugin_names())))
    loading.register_session_argparse_arguments(parser)
    ks_adapter.register_adapter_argparse_arguments(parser, service_type='volume')
    for key in SERVICE_KEYS:
        ks_adapter.register_service_adapter_argparse_arguments(parser, service_type=key)
    parser.set_defaults(cloud_dests=sorted(
        {action.dest for action in parser._actions} - before - {'embedded', 'help'}),
        cloud_argv=list(argv))


def _explicit(args):
    """The cloud options given (on the command line or by OS_* defaults)."""
    given = {}
    for dest in getattr(args, 'cloud_dests', ()):
        value = getattr(args, dest, None)
        if value in (None, '', []) or value is False:
            continue
        if dest == 'os_auth_type' and not os.environ.get('OS_AUTH_TYPE') and not any(
                arg.startswith(('--os-auth-type', '--os-auth-plugin'))
                for arg in getattr(args, 'cloud_argv', ())):
            continue    # peeked from the chosen cloud, not a choice of its own
        if dest == 'timeout' and '--timeout' not in getattr(args, 'cloud_argv', ()):
            continue    # keystoneauth's 600 s default, not the user's choice
        if dest in ('os_service_type', 'os_interface') and value in ('volume', 'public'):
            continue    # adapter defaults, not a choice
        given[dest] = value
    return given


def configured(args):
    """Whether the command line or environment names a cloud at all."""
    if getattr(args, 'embedded', None):
        return True
    given = _explicit(args)
    if given.get('os_cloud') or given.get('os_auth_url') or given.get('os_endpoint'):
        return True
    try:
        return _config().default_cloud not in (None, 'defaults')
    except os_exc.ConfigException:
        return True     # a broken clouds.yaml: let loading say what is wrong


def _namespace(given):
    return argparse.Namespace(**{k: v for k, v in given.items() if k != 'os_cloud'})


def _reference_from(region, given, cloud_name, config_file):
    """What to persist: where the cloud is, never how to prove who we are."""
    ref = {'cloud': cloud_name, 'config_file': config_file,
           'region_name': region.region_name or None}
    auth = {}
    options = {}
    for dest, value in given.items():
        key = dest[3:] if dest.startswith('os_') else dest
        if key in ('cloud', 'auth_type') or is_secret(key):
            continue
        if region.config.get('auth', {}).get(key) == value:
            auth[key] = value
        elif key in ('insecure', 'cacert', 'cert', 'key', 'timeout', 'interface') \
                or key.endswith(_OPTION_SUFFIXES):
            options[key] = value
    if given.get('os_auth_type'):
        ref['auth_type'] = given['os_auth_type']
    if cloud_name is None:
        # From OS_* variables or options only: keep every non-secret value.
        ref['auth_type'] = region.config.get('auth_type')
        auth.update({k: v for k, v in (region.config.get('auth') or {}).items()
                     if not is_secret(k) and v not in (None, '')})
    if auth:
        ref['auth'] = auth
    if options:
        ref['options'] = options
    return ref


def reference_from_args(args):
    """The cloud reference the options select; loads it once to refuse bad input early."""
    if getattr(args, 'embedded', None):
        home = embedded_home(args.embedded)
        return embedded_ref(home, args.embedded, _explicit_options(_explicit(args)))
    if not configured(args):
        raise exceptions.UsageError(NOT_CONFIGURED)
    given = _explicit(args)
    try:
        config = _config()
        chosen = given.get('os_cloud') or config.default_cloud
        region = config.get_one(cloud=chosen, argparse=_namespace(given))
        cloud = None if chosen in ('defaults', config.envvar_key) else chosen
    except os_exc.ConfigException as exc:
        raise exceptions.UsageError(f'--os-cloud/clouds.yaml: {exc}')
    except ks_exc.MissingRequiredOptions as exc:
        raise exceptions.UsageError(f'cloud options: {_missing(exc)}')
    except ks_exc.NoMatchingPlugin as exc:
        raise exceptions.UsageError(f'--os-auth-type: {exc}')
    return _reference_from(region, given, cloud,
                           config.config_filename if cloud else None)


def explicit_options(args):
    return _explicit_options(_explicit(args))


def _explicit_options(given):
    """The non-auth options given (interface, timeout, endpoint overrides, API versions)."""
    options = {}
    for dest, value in given.items():
        key = dest[3:] if dest.startswith('os_') else dest
        if key in ('insecure', 'cacert', 'timeout', 'interface', 'region_name') \
                or key.endswith(_OPTION_SUFFIXES):
            options[key] = value
    return options


def embedded_ref(home, name=None, options=None):
    """The reference of an embedded cloud kept in ``home`` (its published clouds.yaml)."""
    home = os.path.abspath(home)
    ref = {'cloud': name or os.path.basename(home), 'embedded': home,
           'config_file': os.path.join(home, CLOUDS_YAML)}
    if options:
        ref['options'] = dict(options)
    return ref


def describe(ref):
    """A one-word-ish name of the cloud for messages."""
    if ref.get('embedded'):
        return f"embedded cloud {ref.get('cloud')}"
    if ref.get('cloud'):
        return f"cloud {ref['cloud']}"
    auth = ref.get('auth') or {}
    return f"cloud at {auth.get('auth_url') or auth.get('endpoint') or '?'}"


def _missing(exc):
    names = ', '.join(f'--os-{o.dest.replace("_", "-")}' for o in exc.options)
    return f'missing {names} (or the same in clouds.yaml / OS_* variables)'


# --- rebuilding a persisted reference ------------------------------------------------

_override = None


def set_override(ref):
    """An explicit cloud option given to resume/delete wins over the persisted one."""
    global _override
    _override = ref


def effective(ref):
    if _override is None:
        return ref
    merged = dict(_override)
    for key in ('request_id', 'volume_api_version'):
        if ref.get(key):
            merged.setdefault(key, ref[key])
    return merged


def cloud_region(ref, cloud=None):
    """The CloudRegion a reference names (``cloud`` picks another entry of its file)."""
    name = cloud or ref.get('cloud')
    config_file = ref.get('config_file')
    kwargs = dict(ref.get('options') or {})
    if ref.get('auth'):
        kwargs['auth'] = dict(ref['auth'])
    if ref.get('auth_type'):
        kwargs['auth_type'] = ref['auth_type']
    if ref.get('region_name'):
        kwargs['region_name'] = ref['region_name']
    try:
        if name:
            if config_file and not os.path.exists(config_file):
                raise CloudError(reason=f'{describe(ref)}: {config_file} is gone')
            config = _config([config_file] if config_file else None, load_envvars=False,
                             file_override=not config_file)
            return config.get_one(cloud=name, **kwargs)
        # From OS_* variables: the secrets come back from the environment.
        config = _config(load_yaml_config=False)
        if config.envvar_key in config.get_cloud_names():
            return config.get_one(cloud=config.envvar_key, **kwargs)
        return _config(load_yaml_config=False, load_envvars=False).get_one(**kwargs)
    except os_exc.ConfigException as exc:
        raise CloudError(reason=f'{describe(ref)}: {exc}')
    except ks_exc.MissingRequiredOptions as exc:
        raise CloudError(reason=f'{describe(ref)}: {_missing(exc)}')


# --- sessions ------------------------------------------------------------------------

def _log_response(response, *args, **kwargs):
    if LOG.isEnabledFor(logging.DEBUG):
        request = response.request
        LOG.debug('%s %s -> %s x-openstack-request-id=%s (global %s)', request.method,
                  request.url, response.status_code,
                  response.headers.get('x-openstack-request-id', '-'),
                  request.headers.get('X-OpenStack-Request-ID', '-'))


def make_session(**kwargs):
    """A keystoneauth session with pooled connections, a timeout and connect retries;
    its DEBUG body logs are masked (every blockflow session is made here)."""
    from blockflow import conf
    from blockflow import secrets
    secrets.mask_client_logs()
    http = requests.Session()
    pooled = requests.adapters.HTTPAdapter(pool_connections=4,
                                           pool_maxsize=CONNECTIONS_PER_HOST)
    http.mount('http://', pooled)
    http.mount('https://', pooled)
    http.hooks['response'].append(_log_response)
    kwargs.pop('session', None)
    kwargs['timeout'] = kwargs.get('timeout') or conf.CONF.cloud.timeout
    kwargs.setdefault('connect_retries', conf.CONF.cloud.connect_retries)
    return ks_session.Session(session=http, **kwargs)


def retry_options():
    """Adapter keywords: status retries for what surely did not act (never 413)."""
    from blockflow import conf
    return {'connect_retries': conf.CONF.cloud.connect_retries,
            'status_code_retries': conf.CONF.cloud.status_code_retries,
            'retriable_status_codes': list(conf.CONF.cloud.retriable_status_codes)}


def explain(exc, what, ref=None, request_id=None):
    """One line for a keystoneauth/requests failure while doing ``what``."""
    where = f'{describe(ref)}: ' if ref else ''
    rid = f' [request {request_id}]' if request_id else ''
    if isinstance(exc, ks_exc.Unauthorized):
        text = 'authentication refused (HTTP 401): check the credentials'
    elif isinstance(exc, ks_exc.ConnectTimeout):
        text = f'timed out connecting: {_short(exc)}'
    elif isinstance(exc, (ks_exc.ConnectFailure, requests.ConnectionError)):
        text = f'cannot connect: {_connect_reason(exc)}'
    elif isinstance(exc, ks_exc.DiscoveryFailure):
        cause = ' (cannot connect)' if 'Unable to establish connection' in str(exc) else ''
        text = f'no identity API found at the auth URL{cause}: is the URL right and the cloud up?'
    elif isinstance(exc, ks_exc.EndpointNotFound):
        text = f'no endpoint: {exc}'
    elif isinstance(exc, ks_exc.HttpError):
        text = f'HTTP {exc.http_status}: {exc.message}'
    else:
        text = f'{type(exc).__name__}: {_short(exc)}'
    return CloudError(reason=f'{where}{what}: {text}{rid}')


_URL = re.compile(r'connection to (\S+?):? ')
_ERRNO = re.compile(r'\[Errno -?\d+\] ([^\'")]+)')


def _connect_reason(exc):
    """``URL (Connection refused)`` out of urllib3's nested wording."""
    text = str(exc)
    url, reason = _URL.search(text), _ERRNO.search(text)
    if url and reason:
        return f'{url.group(1)} ({reason.group(1).strip()})'
    return _short(exc)


def _short(exc):
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:300]

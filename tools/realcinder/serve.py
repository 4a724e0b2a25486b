"""Run a real OpenStack Cinder (api + scheduler + volume) in one process, on loopback.

Run it with the Python of the venv made by ``tools/realcinder/install.sh``::

    .venv-cinder/bin/python tools/realcinder/serve.py --state-dir DIR \\
        --glance-url http://127.0.0.1:PORT/image

It writes a cinder.conf into the state dir (sqlite database, fake RPC
transport, noauth, one file-backed fake backend), creates the schema, starts
the three services under one oslo.service launcher and prints exactly one
line on stdout, ``ready http://127.0.0.1:PORT``, once the scheduler lists a
pool. Cinder's own logs go to ``STATE_DIR/cinder.log``.
"""

# Cinder's services expect eventlet's monkey patching before anything else.
from cinder import monkey_patch  # noqa: I100
monkey_patch.patch()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402

import eventlet  # noqa: E402
from oslo_config import cfg  # noqa: E402
from oslo_log import log as logging  # noqa: E402
from oslo_service import service as oslo_service  # noqa: E402

from cinder.common import config  # noqa: E402,F401  (registers the options)
from cinder.tests import fake_driver  # noqa: E402

CONF = cfg.CONF
BACKEND = 'file'
HOST = 'blockflow-realcinder'
GiB = 1024 ** 3
LOG = logging.getLogger('blockflow.realcinder')


# --- the backend --------------------------------------------------------------
class FileVolumeDriver(fake_driver.FakeLoggingVolumeDriver):
    """The fake driver, but every volume is a sparse file holding real bytes.

    Image volumes get the image's data (``qemu-img convert`` to raw); volumes
    from a snapshot or another volume get a copy of its file.
    """

    @staticmethod
    def _dir():
        path = os.path.join(CONF.state_path, 'volumes')
        os.makedirs(path, exist_ok=True)
        return path

    def _file(self, name):
        return os.path.join(self._dir(), name)

    def local_path(self, volume, vg=None):
        return self._file(f"volume-{volume['id']}")

    def _sparse(self, path, size_gb):
        with open(path, 'ab') as stream:
            stream.truncate(int(size_gb) * GiB)

    def _copy(self, source, dest, size_gb):
        if os.path.exists(source):
            subprocess.run(['cp', '--sparse=always', source, dest], check=True,
                           capture_output=True)
        self._sparse(dest, size_gb)

    def create_volume(self, volume):
        update = super().create_volume(volume)
        self._sparse(self.local_path(volume), volume['size'])
        return update

    def delete_volume(self, volume):
        try:
            os.unlink(self.local_path(volume))
        except FileNotFoundError:
            pass

    def create_snapshot(self, snapshot):
        self._copy(self.local_path(snapshot.volume),
                   self._file(f'snapshot-{snapshot.id}'), snapshot.volume_size)

    def delete_snapshot(self, snapshot):
        try:
            os.unlink(self._file(f'snapshot-{snapshot.id}'))
        except FileNotFoundError:
            pass

    def create_volume_from_snapshot(self, volume, snapshot):
        self._copy(self._file(f'snapshot-{snapshot.id}'), self.local_path(volume),
                   volume['size'])

    def create_cloned_volume(self, volume, src_vref):
        self._copy(self.local_path(src_vref), self.local_path(volume), volume['size'])

    def extend_volume(self, volume, new_size):
        self._sparse(self.local_path(volume), new_size)

    def copy_image_to_volume(self, context, volume, image_service, image_id,
                             disable_sparse=False):
        dest = self.local_path(volume)
        fd, tmp = tempfile.mkstemp(prefix='image-', dir=self._dir())
        try:
            with os.fdopen(fd, 'wb') as stream:
                image_service.download(context, image_id, stream)
            subprocess.run(['qemu-img', 'convert', '-O', 'raw', tmp, dest],
                           check=True, capture_output=True)
        finally:
            os.unlink(tmp)
        self._sparse(dest, volume['size'])

    copy_image_to_encrypted_volume = copy_image_to_volume

    def validate_connector(self, connector):
        # The inherited LVM/iSCSI check wants an iSCSI initiator; a local file
        # export needs nothing from the host's connector.
        return True

    def initialize_connection(self, volume, connector):
        # The stock fake driver answers iSCSI with no target at all, which no
        # host can attach. Our volumes are files: export them as os-brick's
        # "local" type, the volume file as the device path.
        info = super().initialize_connection(volume, connector)
        data = dict(info.get('data') or {}, device_path=self.local_path(volume),
                    volume_id=volume['id'])
        return {'driver_volume_type': 'local', 'data': data}


# --- configuration ----------------------------------------------------------------
def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def write_config(args, state_dir):
    venv = sys.prefix
    etc = os.path.join(venv, 'etc', 'cinder')
    helper = os.path.join(venv, 'bin', 'privsep-helper')
    conf_path = os.path.join(state_dir, 'cinder.conf')
    # As root with no sudo (containers), the helper is run directly.
    prefix = '' if os.geteuid() == 0 and not shutil.which('sudo') else 'sudo '
    helper_command = f'{prefix}{helper} --config-file {conf_path}'
    driver = f'{__name__}.{FileVolumeDriver.__name__}'
    default = {
        'host': HOST, 'state_path': state_dir, 'transport_url': 'fake:/',
        'auth_strategy': 'noauth', 'enabled_backends': BACKEND,
        'api_paste_config': os.path.join(etc, 'api-paste.ini'),
        'resource_query_filters_file': os.path.join(etc, 'resource_filters.json'),
        'osapi_volume_listen': '127.0.0.1', 'osapi_volume_listen_port': str(args.port),
        'osapi_volume_workers': '1', 'glance_api_servers': args.glance_url,
        'log_file': os.path.join(state_dir, 'cinder.log'),
        'debug': 'true' if args.debug else 'false', 'use_stderr': 'false',
        'image_conversion_dir': os.path.join(state_dir, 'conversion'),
        # No image-volume cache, no glance direct URLs: every image is downloaded.
        'allowed_direct_url_schemes': '',
    }
    for name in ('volumes', 'gigabytes', 'snapshots'):
        value = getattr(args, f'quota_{name}')
        if value is not None:
            default[f'quota_{name}'] = str(value)
    sections = {
        'DEFAULT': default,
        'database': {'connection': f"sqlite:///{os.path.join(state_dir, 'cinder.sqlite')}"},
        BACKEND: {'volume_driver': driver, 'volume_backend_name': BACKEND,
                  'target_helper': 'fake'},
        'oslo_concurrency': {'lock_path': os.path.join(state_dir, 'locks')},
        'coordination': {'backend_url': f"file://{os.path.join(state_dir, 'coordination')}"},
        'cinder_sys_admin': {'helper_command': helper_command},
        'privsep_osbrick': {'helper_command': helper_command},
    }
    with open(conf_path, 'w', encoding='utf-8') as stream:
        for section, values in sections.items():
            stream.write(f'[{section}]\n')
            for key, value in values.items():
                stream.write(f'{key} = {value}\n')
            stream.write('\n')
    return conf_path


# --- services -----------------------------------------------------------------------
def _own_heartbeat(server):
    """Cinder keeps the DB id of "the" service in a class attribute
    (``Service.service_id``); with three services in one process only the last
    one created would heartbeat, and the volume service would go "down" after
    ``service_down_time``. Give each service its own id back before it reports."""
    from cinder import service
    report_state = server.report_state

    def report():
        service.Service.service_id = server.origin_service_id
        report_state()
    server.report_state = report
    return server


def build_services():
    from cinder import service
    from cinder.common import constants
    api = service.WSGIService('osapi_volume')
    scheduler = _own_heartbeat(service.Service.create(binary=constants.SCHEDULER_BINARY))
    volume = _own_heartbeat(service.Service.create(
        host=f'{HOST}@{BACKEND}', service_name=BACKEND, binary=constants.VOLUME_BINARY,
        coordination=True))
    return api, scheduler, volume


def wait_for_pool(url, timeout):
    """Poll get_pools (noauth, admin) until the scheduler knows a pool."""
    request = urllib.request.Request(
        f'{url}/v3/scheduler-stats/get_pools',
        headers={'X-Auth-Token': 'admin:admin', 'Accept': 'application/json'})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                if json.load(response).get('pools'):
                    return True
        except Exception:   # not up yet
            pass
        eventlet.sleep(0.2)
    return False


def ensure_service_uuid(volume_service):
    """Cinder stamps each new volume with its volume service's uuid. When
    init_host runs before the service row can be found, the manager only learns
    the uuid from a periodic task a minute later, and volumes created meanwhile
    carry none; look it up now, as that task would."""
    manager = volume_service.manager
    if not manager.service_uuid:
        manager.service_uuid = manager._get_service().uuid


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--state-dir', required=True)
    parser.add_argument('--glance-url', required=True,
                        help='Glance v2 endpoint Cinder downloads images from')
    parser.add_argument('--port', type=int, default=0, help='default: a free port')
    parser.add_argument('--quota-volumes', type=int)
    parser.add_argument('--quota-gigabytes', type=int)
    parser.add_argument('--quota-snapshots', type=int)
    parser.add_argument('--ready-timeout', type=float, default=60.0)
    parser.add_argument('--debug', action='store_true')
    args = parser.parse_args(argv)

    state_dir = os.path.abspath(args.state_dir)
    for sub in ('', 'locks', 'coordination', 'conversion', 'volumes'):
        os.makedirs(os.path.join(state_dir, sub), exist_ok=True)
    if not args.port:
        args.port = _free_port()
    conf_path = write_config(args, state_dir)

    from cinder import objects
    from cinder import version
    objects.register_all()
    CONF([], project='cinder', version=version.version_string(),
         default_config_files=[conf_path])
    logging.setup(CONF, 'cinder')

    from cinder.db import migration
    from cinder import rpc
    migration.db_sync()
    rpc.init(CONF)

    api, scheduler, volume = build_services()
    url = f'http://127.0.0.1:{api.server.port}'
    launcher = oslo_service.ServiceLauncher(CONF)
    for server in (api, scheduler, volume):
        launcher.launch_service(server)

    def announce():
        if wait_for_pool(url, args.ready_timeout):
            ensure_service_uuid(volume)
            print(f'ready {url}', flush=True)
        else:
            print(f'failed: no pool after {args.ready_timeout} s, see '
                  f'{os.path.join(state_dir, "cinder.log")}', flush=True)
            os.kill(os.getpid(), signal.SIGTERM)
    eventlet.spawn(announce)
    launcher.wait()
    return 0


if __name__ == '__main__':
    sys.exit(main())

"""Run the embedded cloud: in a thread (tests, ``blockflow boot``) or as a process."""

import argparse
import json
import os
import sys
import threading

import yaml

from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from blockflow import wsgi_server
from blockflow.cloud import app as cloud_app
from blockflow.cloud import attachments
from blockflow.cloud import faults as cloud_faults
from blockflow.cloud import glance
from blockflow.cloud import recovery
from blockflow.cloud import store
from blockflow.cloud import volumes


REQUEST_THREADS = 256
LISTEN_BACKLOG = 1024
CLOUDS_YAML = 'clouds.yaml'
REQUEST_LOG = 'requests.log'


class RequestLog:
    """WSGI middleware: one JSON line per call — method, path, query and the caller's
    global request id (``X-OpenStack-Request-ID``), so a test can tell which
    boot each call belonged to."""

    KEEP_BYTES = 16 << 20        # a reused home keeps one older log beside the current

    def __init__(self, app, path):
        self.app = app
        self.path = path
        self._lock = threading.Lock()
        if os.path.exists(path) and os.path.getsize(path) > self.KEEP_BYTES:
            os.replace(path, path + '.1')
        self._stream = open(path, 'a', encoding='utf-8')

    def __call__(self, environ, start_response):
        line = json.dumps({'method': environ.get('REQUEST_METHOD'),
                           'path': environ.get('PATH_INFO'),
                           'query': environ.get('QUERY_STRING', ''),
                           'global_request_id': environ.get('HTTP_X_OPENSTACK_REQUEST_ID')})
        with self._lock:
            if not self._stream.closed:
                self._stream.write(line + '\n')
                self._stream.flush()
        return self.app(environ, start_response)

    def close(self):
        with self._lock:
            self._stream.close()


def read_request_log(state_dir):
    try:
        with open(os.path.join(state_dir, REQUEST_LOG), encoding='utf-8') as stream:
            return [json.loads(line) for line in stream if line.strip()]
    except FileNotFoundError:
        return []


class EmbeddedCloud:
    def __init__(self, state_dir, port=0, host='127.0.0.1', latency_profile=None,
                 auth_strategy='keystone', name='embedded'):
        self.state_dir = os.path.abspath(state_dir)
        self.cloud_name = name
        self.store = store.Store(self.state_dir)
        self.faults = cloud_faults.Faults(latency_profile)
        self.glance = glance.Glance(self.store)
        self.cinder = volumes.Cinder(self.store, self.faults, self.glance)
        # As Cinder's volume service does at start: nothing stays "creating" forever.
        self.recovered = recovery.recover_interrupted_work(self.cinder)
        self.attachments = attachments.Attachments(self.cinder)
        self.cinder.seed_examples(cloud_app.PROJECT_ID)
        self.app = cloud_app.CloudApp(self, auth_strategy)
        # Latency is simulated by sleeping in the request thread, so the pool must
        # hold as many requests as clients send at once (hundreds of devices).
        # A listen backlog of cheroot's default 5 drops the SYNs of a burst of
        # new connections, and each dropped one costs the client a 1 s retransmit.
        self.request_log = RequestLog(self.app, os.path.join(self.state_dir, REQUEST_LOG))
        self._server = wsgi_server.Server((host, port), self.request_log,
                                          numthreads=REQUEST_THREADS,
                                          too_large=cloud_app.too_large,
                                          request_queue_size=LISTEN_BACKLOG,
                                          server_name='blockflow-cloud')
        self._thread = None

    @property
    def url(self):
        host, port = self._server.bind_addr[:2]
        return f'http://{host}:{port}'

    @property
    def auth_url(self):
        return f'{self.url}/identity/v3'

    @property
    def admin_url(self):
        return f'{self.url}/admin'

    project_id = cloud_app.PROJECT_ID

    def _creds(self, user):
        return {'auth_url': self.auth_url, 'username': user,
                'password': cloud_app.USERS[user], 'project_name': 'blockflow',
                'user_domain_name': 'Default', 'project_domain_name': 'Default'}

    @property
    def credentials(self):
        return self._creds('admin')

    @property
    def service_credentials(self):
        return self._creds('nova')

    def session(self, service=False):
        creds = self.service_credentials if service else self.credentials
        return ks_session.Session(auth=v3.Password(**creds))

    def cinder_client(self, api_version='3.71'):
        from cinderclient import client
        return client.Client(api_version, session=self.session())

    cinder_api = cinder_client

    def counters(self):
        return self.faults.counters()

    @property
    def clouds_yaml(self):
        return os.path.join(self.state_dir, CLOUDS_YAML)

    def clouds_config(self):
        """This cloud as clouds.yaml entries (the user, and the service user
        attachment deletes go as): for openstack/cinder CLIs and blockflow."""
        def entry(creds):
            auth = {k: v for k, v in creds.items()}
            return {'auth_type': 'password', 'auth': auth, 'region_name': 'RegionOne',
                    'interface': 'public', 'identity_api_version': 3,
                    'volume_api_version': 3, 'blockflow_embedded': True}
        service = f'{self.cloud_name}-service'
        user = entry(self.credentials)
        user['blockflow_service_cloud'] = service
        return {'clouds': {self.cloud_name: user, service: entry(self.service_credentials)}}

    def publish(self, path=None):
        """Write the clouds.yaml entries (mode 0600: it holds the passwords)."""
        path = path or self.clouds_yaml
        descriptor = os.open(path + '.tmp', os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, 'w', encoding='utf-8') as stream:
            yaml.safe_dump(self.clouds_config(), stream, default_flow_style=False)
        os.replace(path + '.tmp', path)
        return path

    def start(self):
        self._server.prepare()
        self.publish()
        self._thread = threading.Thread(target=self._server.serve, daemon=True,
                                        name='blockflow-cloud')
        self._thread.start()
        return self

    def stop(self):
        self._server.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.cinder.stop()
        self.store.close()
        self.request_log.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m blockflow.cloud')
    parser.add_argument('--port', type=int, default=0)
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--state-dir', required=True)
    parser.add_argument('--latency-profile', default=None)
    parser.add_argument('--name', default='embedded', help='its clouds.yaml entry name')
    parser.add_argument('--auth-strategy', choices=('keystone', 'noauth'), default='keystone',
                        help="as Cinder's: noauth also accepts 'user:project' tokens")
    args = parser.parse_args(argv)
    cloud = EmbeddedCloud(args.state_dir, args.port, args.host, args.latency_profile,
                          args.auth_strategy, name=args.name)
    cloud._server.prepare()
    cloud.publish()
    print(f'blockflow cloud ready {cloud.url} auth_url={cloud.auth_url} '
          f'clouds_yaml={cloud.clouds_yaml}', flush=True)
    try:
        cloud._server.serve()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == '__main__':
    sys.exit(main())

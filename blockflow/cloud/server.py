"""Run the embedded cloud: in a thread (tests, ``blockflow boot``) or as a process."""

import argparse
import os
import sys
import threading

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


class EmbeddedCloud:
    def __init__(self, state_dir, port=0, host='127.0.0.1', latency_profile=None,
                 auth_strategy='keystone'):
        self.state_dir = os.path.abspath(state_dir)
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
        self._server = wsgi_server.Server((host, port), self.app,
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

    def start(self):
        self._server.prepare()
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
    parser.add_argument('--auth-strategy', choices=('keystone', 'noauth'), default='keystone',
                        help="as Cinder's: noauth also accepts 'user:project' tokens")
    args = parser.parse_args(argv)
    cloud = EmbeddedCloud(args.state_dir, args.port, args.host, args.latency_profile,
                          args.auth_strategy)
    cloud._server.prepare()
    print(f'blockflow cloud ready {cloud.url} auth_url={cloud.auth_url}', flush=True)
    try:
        cloud._server.serve()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == '__main__':
    sys.exit(main())

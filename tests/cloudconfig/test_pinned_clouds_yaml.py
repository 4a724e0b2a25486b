"""A persisted cloud reference names its clouds.yaml; loading it must not touch the
process environment, which other threads' HTTP clients read at every call."""

import os
import threading

from blockflow.clients import cloudconfig


def test_a_pinned_load_wins_over_os_client_config_file_and_leaves_os_environ_alone(
        embedded_cloud, tmp_path, monkeypatch):
    other = tmp_path / 'other-clouds.yaml'
    other.write_text('clouds:\n  elsewhere:\n    auth_type: none\n'
                     '    block_storage_endpoint_override: http://192.0.2.1:1/v3\n')
    monkeypatch.setenv('OS_CLIENT_CONFIG_FILE', str(other))
    ref = cloudconfig.embedded_ref(embedded_cloud.state_dir, 'embedded')
    failures, stop = [], threading.Event()

    def read_environment():
        # What requests does on every call (proxy variables): all keys, then each value.
        while not stop.is_set():
            try:
                dict(os.environ.items())
            except KeyError as exc:
                failures.append(exc)
                return

    reader = threading.Thread(target=read_environment)
    reader.start()
    try:
        for _ in range(10):
            region = cloudconfig.cloud_region(ref)
            assert region.name == 'embedded'      # its own file, not OS_CLIENT_CONFIG_FILE's
    finally:
        stop.set()
        reader.join()
    assert failures == []

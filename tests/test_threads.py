"""blockflow.threads: a blockflow process runs TaskFlow and os-brick without
importing eventlet, and leaves eventlet alone where a program already uses it."""

import subprocess
import sys
import textwrap


def _python(code):
    out = subprocess.run([sys.executable, '-c', textwrap.dedent(code)], capture_output=True,
                         text=True, timeout=180, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.split()


def test_taskflow_and_os_brick_run_without_eventlet(tmp_path):
    device = tmp_path / 'disk.img'
    device.write_bytes(b'\0' * 512)
    words = _python(f'''
        import sys
        from blockflow import threads
        print(threads.use_os_threads())
        import taskflow.engines
        from blockflow.runner import engine
        from blockflow.clients.hypervisor import connectors
        print('host' in connectors.connector_properties())
        info = {{'driver_volume_type': 'local', 'data': {{'device_path': {str(device)!r}}}}}
        print(connectors.connector_for(info).connect(info)['path'] == {str(device)!r})
        from oslo_service import backend
        print(backend.get_backend_type().value)
        print(sys.modules.get('eventlet', 'absent') is None)
    ''')
    assert words == ['True', 'True', 'True', 'threading', 'True']


def test_a_program_that_uses_eventlet_keeps_it():
    words = _python('''
        import sys, warnings
        warnings.simplefilter('ignore')
        import eventlet
        from blockflow import threads
        print(threads.use_os_threads())
        print(sys.modules['eventlet'] is eventlet)
    ''')
    assert words == ['False', 'True']

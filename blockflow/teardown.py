"""`blockflow delete`: undo an instance's devices from its records, last to first.

Hypervisor detach, then the Cinder side (attachment delete as a service, or
terminate_connection + os-detach for the legacy path), then delete exactly the
volumes with delete_on_termination, then local files. Every step is tried;
the errors are collected and raised once at the end.
"""

import time

from cinderclient import exceptions as cinder_exc

from blockflow import clients as clients_module
from blockflow import exceptions
from blockflow import localdisk
from blockflow import records as records_module
from blockflow.hypervisor import connectors
from blockflow.hypervisor import domain


class TeardownErrors(exceptions.BlockflowError):
    msg_fmt = 'teardown left %(count)d problem(s): %(details)s'
    http_status = 500


def _wait_deletable(cinder, volume_id, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = cinder.volumes.get(volume_id).status
        if status in ('available', 'error'):
            return
        time.sleep(0.1)


def teardown(instance_uuid, cloud_ref, records_url, libvirt_uri=None):
    recs = records_module.Records(records_url)
    rows = recs.for_instance(instance_uuid)
    if not rows:
        raise exceptions.UsageError(f'no recorded devices for instance {instance_uuid}')
    clients = clients_module.Clients(cloud_ref)
    hypervisor = domain.Hypervisor(libvirt_uri)
    errors, done = [], []

    def attempt(what, func, *args):
        try:
            func(*args)
            done.append(what)
        except (cinder_exc.NotFound, FileNotFoundError):
            done.append(what + ' (already gone)')
        except Exception as exc:  # keep going: every device must be tried
            errors.append(f'{what}: {exc}')

    for row in reversed(rows):
        dev = row['device_name'].replace('/dev/', '')
        attempt(f'{dev} detach from domain', hypervisor.detach_disk, instance_uuid, dev)
        volume_id = row['volume_id']
        if volume_id:
            if row['attachment_id']:
                attempt(f'{dev} delete attachment',
                        clients.cinder('3.44', service=True).attachments.delete,
                        row['attachment_id'])
            else:
                cinder = clients.cinder('3.0')
                attempt(f'{dev} terminate connection', cinder.volumes.terminate_connection,
                        volume_id, connectors.connector_properties())
                attempt(f'{dev} os-detach', cinder.volumes.detach, volume_id)
            if row['delete_on_termination']:
                cinder = clients.cinder()
                attempt(f'{dev} wait for volume', _wait_deletable, cinder, volume_id)
                attempt(f'{dev} delete volume {volume_id}', cinder.volumes.delete, volume_id)
        if row['local_path']:
            attempt(f'{dev} remove {row["local_path"]}', localdisk.remove, row['local_path'])
        if not errors:
            recs.mark_deleted(row['uuid'])
    attempt('undefine domain', hypervisor.undefine, instance_uuid)
    if errors:
        raise TeardownErrors(count=len(errors), details='; '.join(errors))
    return done

"""Nothing leaks when the cloud misbehaves.

Every Cinder/Glance call a six-device all-kinds boot makes, and every call its
revert makes, × {500, 503, connection reset before the request, answer lost
after the cloud acted} × {once, always}. After the boot (and, where the
reverts left something, after `blockflow delete` once the cloud behaves):
no volume blockflow made, no attachment of the instance, the user's volume
available with no attachment, no disk in the domain, no file, no traceback.

500/503 come from the embedded cloud's fault rules, resets and lost answers
from a loopback proxy in front of it (tests/fixtures/lossy_proxy.py). Faults
are set once the request is validated: validation's own reads are not the
flow's business.
"""

import copy
import uuid

import pytest

from blockflow.clients.hypervisor import domain
from blockflow.cloud.server import EmbeddedCloud
from blockflow import persistence
from blockflow.persistence import records
from blockflow.runner import boot as boot_module
from blockflow.runner import engine as engine_module
from blockflow.runner import teardown
from tests.boot.test_boot_e2e import ALL_KINDS
from tests.boot.test_boot_e2e import USER_VOLUME
from tests.fixtures import lossy_proxy
from tests.fixtures.lossy_proxy import LossyProxy

FAULTS = ('500', '503', 'reset', 'lost')
# Calls of the boot (both APIs read through Glance and Cinder the same way).
BOOT_OPS = {
    'attachments': ('image.get', 'snapshot.get', 'volume.get', 'volume.list',
                    'volume.create', 'attachment.list', 'attachment.create',
                    'attachment.update', 'attachment.complete'),
    'legacy': ('volume.action.os-reserve', 'volume.action.os-initialize_connection',
               'volume.action.os-attach'),
}
# Calls a clean boot does not make: the look-up by identity before a create and
# the separate export follow only an attempt whose answer may have been lost.
# A case failing one of them first loses one attachment create's answer.
RECOVERY_OPS = {'attachments': ('attachment.list', 'attachment.update'), 'legacy': ()}
# In a boot where each call fails once, the faults of the attachment create
# that lead to them: a 503 is re-sent by the session itself (it surely did
# not act), so no look-up follows; only a lost answer leaves the export undone.
RECOVERY_AFTER = {'attachment.list': ('500', 'reset', 'lost'), 'attachment.update': ('lost',)}
# Calls only reverts (and the delete) make; a boot is made to fail first.
REVERT_OPS = {
    'attachments': ('attachment.delete', 'volume.delete'),
    'legacy': ('volume.action.os-detach', 'volume.action.os-terminate_connection',
               'volume.action.os-unreserve'),
}
# Fails the 4th device's last Cinder step for good (before Cinder acts), so
# three devices are fully attached when the revert starts.
TRIGGER = {'attachments': 'attachment.complete', 'legacy': 'volume.action.os-attach'}
ALWAYS = 10_000


@pytest.fixture(scope='module')
def _shared_cloud(tmp_path_factory):
    """One cloud and proxy for the whole matrix (each case ends clean, asserted)."""
    cloud = EmbeddedCloud(str(tmp_path_factory.mktemp('matrix-cloud')),
                          latency_profile='fast')
    cloud.start()
    proxy = LossyProxy(cloud.url)
    proxy.cloud = cloud
    yield cloud, proxy
    proxy.stop()
    cloud.stop()


@pytest.fixture
def matrix_cloud(_shared_cloud):
    cloud, proxy = _shared_cloud
    _clear(cloud, proxy)
    yield cloud, proxy
    _clear(cloud, proxy)
    # A failed case must not fail the next ones: free what it left, directly.
    for attachment in cloud.store.list('attachments'):
        cloud.attachments.delete(cloud.project_id, attachment['id'], True)
    for volume in cloud.store.list('volumes'):
        if volume['metadata'].get('blockflow_instance'):
            cloud.store.delete('volumes', volume['id'])
    cloud.store.update('volumes', USER_VOLUME, status='available', attach_status='detached',
                       attachments=[])


def _options(proxy, tmp_path, attach_api, cloud=None):
    # The proxy's own cloud (``proxy.cloud``) unless another is named.
    proxy.cloud = cloud or proxy.cloud
    return boot_module.BootOptions(
        instance_uuid=str(uuid.uuid4()),
        cloud_ref=lossy_proxy.proxied_ref(proxy.cloud, proxy.url, tmp_path),
        connection=f'sqlite:///{tmp_path}/flows.sqlite', attach_api=attach_api,
        instances_path=str(tmp_path / 'instances'))


def _boot(options, faults):
    """Validate, then set ``faults()``, then run the boot flow."""
    plan = boot_module.plan_for(copy.deepcopy(ALL_KINDS), options)
    faults()
    factory_kwargs, meta = boot_module.factory_arguments(plan, options)
    backend = persistence.get_backend(options.connection)
    try:
        return engine_module.run(engine_module.load_boot(
            backend, boot_module.FACTORY, factory_kwargs, meta))
    finally:
        backend.close()


def _inject(cloud, proxy, op, fault, times, nth=1):
    if fault in ('reset', 'lost'):
        proxy.fail(op, fault, nth=nth, times=times)
    else:
        cloud.faults.fail(op, nth=nth, status=int(fault), times=times)


def _assert_all_fired(cloud, proxy):
    """Every once-rule set did fail its call (else the case proves nothing)."""
    rules = cloud.faults.to_dict()['rules'] + list(proxy._rules)
    assert [r['op'] for r in rules if r['seen'] < r['nth']] == []


def _clear(cloud, proxy):
    cloud.faults.clear()
    proxy.clear()


def _made_volumes(cloud, instance_uuid):
    return [v for v in cloud.store.list('volumes')
            if v['metadata'].get('blockflow_instance') == instance_uuid]


def _attachments(cloud, instance_uuid):
    return [a for a in cloud.store.list('attachments') if a['instance'] == instance_uuid]


def _assert_booted_once(cloud, instance_uuid):
    """Exactly what a boot makes: no duplicate from a retried create."""
    assert len(_made_volumes(cloud, instance_uuid)) == 3
    assert len(_attachments(cloud, instance_uuid)) == 4
    assert cloud.store.get('volumes', USER_VOLUME)['status'] == 'in-use'


def _assert_clean(cloud, options, tmp_path):
    assert _made_volumes(cloud, options.instance_uuid) == []
    assert _attachments(cloud, options.instance_uuid) == []
    user = cloud.store.get('volumes', USER_VOLUME)
    assert (user['status'], user['attachments']) == ('available', [])
    assert domain.Hypervisor().disks(options.instance_uuid) == []
    instance_dir = tmp_path / 'instances' / options.instance_uuid
    assert not instance_dir.exists() or not list(instance_dir.iterdir())


def _open_leftovers(options):
    return records.Leftovers(options.connection).open_for(options.instance_uuid)


def _finish(cloud, proxy, options, outcome, tmp_path):
    """The boot's own word on what it left, then `delete` once the cloud behaves."""
    assert 'Traceback' not in (outcome.failure or '')
    left = _open_leftovers(options)
    if left:
        # The flow does not claim success, and names every leftover.
        assert outcome.state == 'REVERT_FAILURE'     # resumable: resume or delete finishes it
        for row in left:
            assert (row['resource_id'] or row['resource']) in outcome.failure
    _clear(cloud, proxy)
    if outcome.ok or left:
        teardown.teardown(options.instance_uuid, options.cloud_ref, options.connection)
        assert _open_leftovers(options) == []
    _assert_clean(cloud, options, tmp_path)


def _cases():
    for api in ('attachments', 'legacy'):
        for fault in FAULTS:
            for op in BOOT_OPS[api] + REVERT_OPS[api]:
                yield pytest.param(api, op, fault, id=f'{api}-{op}-{fault}-always')


@pytest.mark.parametrize('attach_api, op, fault', list(_cases()))
def test_call_failing_always(matrix_cloud, tmp_path, fast_retries, attach_api, op, fault):
    embedded_cloud, lossy_proxy = matrix_cloud
    def faults():
        if op in REVERT_OPS[attach_api]:
            embedded_cloud.faults.fail(TRIGGER[attach_api], nth=4, status=500, times=ALWAYS)
        if op in RECOVERY_OPS[attach_api]:
            lossy_proxy.fail('attachment.create', 'lost', nth=1, times=1)
        _inject(embedded_cloud, lossy_proxy, op, fault, ALWAYS)
    options = _options(lossy_proxy, tmp_path, attach_api, cloud=embedded_cloud)
    outcome = _boot(options, faults)
    _assert_all_fired(embedded_cloud, lossy_proxy)
    if op in REVERT_OPS[attach_api]:
        assert not outcome.ok
    elif outcome.ok:
        # Only a create whose answer is always lost can still succeed (the
        # look-up before each retry finds what the lost attempt made), or a
        # failing list: a clean boot lists only to poll, and the poller
        # reads a volume's status by GET when lists tell it nothing.
        assert (fault == 'lost' and op.endswith(('create', 'os-reserve', 'os-attach'))
                or op == 'volume.list')
        _assert_booted_once(embedded_cloud, options.instance_uuid)
    _finish(embedded_cloud, lossy_proxy, options, outcome, tmp_path)


@pytest.mark.parametrize('attach_api', ['attachments', 'legacy'])
@pytest.mark.parametrize('fault', FAULTS)
def test_every_call_failing_once(matrix_cloud, tmp_path, fast_retries, attach_api, fault):
    """Each boot call fails once (all in one boot): the boot succeeds with
    nothing made twice; then each delete call fails once: nothing is left."""
    embedded_cloud, lossy_proxy = matrix_cloud
    def faults():
        for op in BOOT_OPS[attach_api]:
            if fault in RECOVERY_AFTER.get(op, FAULTS):
                _inject(embedded_cloud, lossy_proxy, op, fault, 1)
    options = _options(lossy_proxy, tmp_path, attach_api, cloud=embedded_cloud)
    outcome = _boot(options, faults)
    assert outcome.ok, outcome.failure
    _assert_all_fired(embedded_cloud, lossy_proxy)
    _assert_booted_once(embedded_cloud, options.instance_uuid)
    _clear(embedded_cloud, lossy_proxy)
    for op in REVERT_OPS[attach_api]:
        if op != 'volume.action.os-unreserve':      # a delete finds nothing reserved
            _inject(embedded_cloud, lossy_proxy, op, fault, 1)
    teardown.teardown(options.instance_uuid, options.cloud_ref, options.connection)
    _assert_all_fired(embedded_cloud, lossy_proxy)
    _assert_clean(embedded_cloud, options, tmp_path)


@pytest.mark.parametrize('attach_api', ['attachments', 'legacy'])
@pytest.mark.parametrize('fault', FAULTS)
def test_every_revert_call_failing_once(matrix_cloud, tmp_path, fast_retries, attach_api,
                                        fault):
    """A failed boot whose revert calls each fail once reverts everything itself."""
    embedded_cloud, lossy_proxy = matrix_cloud
    def faults():
        embedded_cloud.faults.fail(TRIGGER[attach_api], nth=4, status=500, times=ALWAYS)
        for op in REVERT_OPS[attach_api]:
            _inject(embedded_cloud, lossy_proxy, op, fault, 1)
    options = _options(lossy_proxy, tmp_path, attach_api, cloud=embedded_cloud)
    outcome = _boot(options, faults)
    assert outcome.state == 'REVERTED', outcome.failure
    _assert_all_fired(embedded_cloud, lossy_proxy)
    assert _open_leftovers(options) == []
    _assert_clean(embedded_cloud, options, tmp_path)

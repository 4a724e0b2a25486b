"""Reverts that cannot finish say so and are finished later; delete is a
resumable flow; a cloud down for seconds during a revert is ridden out."""

import json

from cinderclient import exceptions as cinder_exc

from blockflow.clients import openstack as clients_module
from blockflow.persistence import records
from blockflow.runner import teardown
from blockflow import secrets
from tasks import retrying
from tests.boot.test_boot_e2e import ALL_KINDS
from tests.boot.test_boot_e2e import USER_VOLUME
from tests.boot.test_fault_matrix import _assert_clean
from tests.boot.test_fault_matrix import _boot
from tests.boot.test_fault_matrix import _options
from tests.boot.test_fault_matrix import ALWAYS


def test_masking_never_copies_a_client_exception():
    exc = cinder_exc.ClientException(503, 'auth_password=s3cret went away')
    assert secrets.mask(exc) == secrets.mask_text(str(exc))
    assert 's3cret' not in json.dumps(secrets.mask({'error': exc, 'list': [exc]}))


def _failing_revert(cloud, proxy, tmp_path):
    """A boot whose volume deletes always fail: reverted except for three volumes."""
    def faults():
        cloud.faults.fail('attachment.complete', nth=4, status=500, times=ALWAYS)
        cloud.faults.fail('volume.delete', status=503, times=ALWAYS)
    options = _options(proxy, tmp_path, 'attachments')
    return options, _boot(options, faults)


def test_leftovers_are_named_then_undone_by_the_last_revert_run_again(
        embedded_cloud, lossy_proxy, tmp_path, fast_retries, capsys):
    from blockflow.cli import main as cli
    options, outcome = _failing_revert(embedded_cloud, lossy_proxy, tmp_path)
    left = records.Leftovers(options.connection).open_for(options.instance_uuid)
    assert outcome.state == 'REVERT_FAILURE' and len(left) == 3
    assert {row['call'] for row in left} == {'volume.delete'}
    # `show` names every leftover; the user's volume was released all the same.
    assert cli.main(['show', outcome.flow_id, '--connection', options.connection]) == 0
    shown = capsys.readouterr().out
    assert all(f"volume {row['resource_id']} not undone" in shown for row in left)
    assert embedded_cloud.store.get('volumes', USER_VOLUME)['status'] == 'available'
    # `resume` runs the flow's failed revert (its first atom's) again.
    embedded_cloud.faults.clear()
    # The boot stays undone (exit 1), now cleanly reverted.
    assert cli.main(['resume', outcome.flow_id, '--connection', options.connection,
                     '--quiet']) == 1
    assert capsys.readouterr().out.startswith(f'flow {outcome.flow_id}: REVERTED')
    assert records.Leftovers(options.connection).open_for(options.instance_uuid) == []
    _assert_clean(embedded_cloud, options, tmp_path)


def test_boot_output_names_leftovers_without_traceback(embedded_cloud, tmp_path,
                                                       fast_retries, capsys, monkeypatch):
    from blockflow.cli import main as cli
    embedded_cloud.faults.fail('attachment.complete', nth=4, status=500, times=ALWAYS)
    embedded_cloud.faults.fail('volume.delete', status=503, times=ALWAYS)
    request = tmp_path / 'request.json'
    request.write_text(json.dumps(ALL_KINDS))
    connection = f'sqlite:///{tmp_path}/flows.sqlite'
    monkeypatch.setenv('OS_CLIENT_CONFIG_FILE', embedded_cloud.clouds_yaml)
    rc = cli.main(['boot', str(request), '--os-cloud', embedded_cloud.cloud_name, '--quiet',
                   '--connection', connection, '--instances-path', str(tmp_path / 'inst')])
    out, err = capsys.readouterr()
    assert rc == 1 and 'Traceback' not in err
    assert err.count('left behind: ') == 3 and 'volume.delete' in err
    embedded_cloud.faults.clear()
    instance_uuid = next(v['metadata']['blockflow_instance']
                         for v in embedded_cloud.store.list('volumes')
                         if v['metadata'].get('blockflow_instance'))
    # `delete` finishes what the revert could not (no device records left).
    teardown.teardown(instance_uuid, clients_module.embedded_ref(embedded_cloud), connection)
    assert not [v for v in embedded_cloud.store.list('volumes')
                if v['metadata'].get('blockflow_instance') == instance_uuid]


def test_cloud_down_for_seconds_during_a_revert(embedded_cloud, lossy_proxy, tmp_path,
                                                monkeypatch):
    # Boot calls give up fast; reverts keep their production patience.
    monkeypatch.setattr(retrying, 'CALL_POLICY', retrying.Policy(3, 1.0, 0.02, 0.1))

    def faults():
        embedded_cloud.faults.fail('attachment.complete', nth=4, status=500, times=ALWAYS)
        lossy_proxy.outage_on('attachment.delete', seconds=2.0)
    options = _options(lossy_proxy, tmp_path, 'attachments')
    outcome = _boot(options, faults)
    assert lossy_proxy.outages == 1
    assert outcome.state == 'REVERTED', outcome.failure
    assert records.Leftovers(options.connection).open_for(options.instance_uuid) == []
    _assert_clean(embedded_cloud, options, tmp_path)


def test_over_quota_is_not_retried(embedded_cloud, lossy_proxy, tmp_path):
    cinder = embedded_cloud.cinder_client('3.44')
    # Room for one more volume: two of the three creates get Cinder's 413.
    embedded_cloud.store.put('quotas', {'id': embedded_cloud.project_id,
                                        'volumes': len(cinder.volumes.list()) + 1,
                                        'gigabytes': 100, 'snapshots': 10})
    options = _options(lossy_proxy, tmp_path, 'attachments')
    outcome = _boot(options, embedded_cloud.faults.reset_counters)
    assert not outcome.ok and 'exceeded' in outcome.failure
    ran = [a for a in outcome.atoms if a.endswith('-create-volume')
           and outcome.atoms[a] not in ('PENDING', None)]
    # One create per device that got that far, none asked again after a 413.
    assert embedded_cloud.counters()['volume.create'] == len(ran) >= 2
    _assert_clean(embedded_cloud, options, tmp_path)


def test_a_raising_revert_is_retried_then_recorded(tmp_path, fast_retries):
    from tasks.base import BlockflowTask
    calls = []

    class Flaky(BlockflowTask):
        def execute(self):
            return 1

        def revert(self, **kwargs):
            calls.append(1)
            raise cinder_exc.ClientException(503, 'auth_password=s3cret: cloud away')

    class Inherits(Flaky):
        def execute(self):
            return 2

    url = f'sqlite:///{tmp_path}/records.sqlite'
    for task_class in (Flaky, Inherits):
        task = task_class(name=task_class.__name__, leftovers_url=url)
        assert task.revert(result=1, instance_uuid='i-1',
                           device={'device_name': f'/dev/{task_class.__name__}'}) is None
    assert len(calls) == 2 * retrying.REVERT_POLICY.attempts
    rows = records.Leftovers(url).open_for('i-1')
    assert sorted(r['device_name'] for r in rows) == ['/dev/Flaky', '/dev/Inherits']
    assert all('503' in r['error'] and 's3cret' not in r['error'] for r in rows)

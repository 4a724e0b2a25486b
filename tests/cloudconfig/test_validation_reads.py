"""Validation's reads against a live cloud: transient failures are retried, lasting ones
are one line naming the call and its status, and a Glance 5xx is not "image not found".
The embedded cloud's fault injection over real HTTP; the CLI in-process."""

import json
import pathlib

import pytest

from blockflow.cli import main as cli

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / 'examples' / 'all-kinds.json'
IMAGE_ID = json.loads(EXAMPLE.read_text())['server']['block_device_mapping_v2'][0]['uuid']


@pytest.fixture
def cloud_env(clouds_yaml_env):
    return clouds_yaml_env


def _validate(capsys):
    code = cli.main(['validate', str(EXAMPLE), '--os-cloud', 'embedded'])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_glance_5xx_is_a_cloud_error_not_a_missing_image(cloud_env, capsys):
    cloud_env.faults.fail('image.get', status=500, times=100)
    code, out, err = _validate(capsys)
    assert code == 1 and out == ''
    assert len(err.splitlines()) == 1, err
    assert err.startswith('CloudError:') and f'GET image {IMAGE_ID}' in err
    assert 'HTTP 500' in err and 'InvalidBDMImage' not in err
    assert cloud_env.counters()['image.get'] > 1          # it was retried first


@pytest.mark.parametrize('fault', [{'status': 500}, {'status': 503},
                                   {'status': 502, 'drop': True}])
def test_one_transient_failure_is_retried(cloud_env, capsys, fault):
    cloud_env.faults.fail('volume.get', **fault)
    code, _out, err = _validate(capsys)
    assert code == 0, err
    assert cloud_env.counters()['volume.get'] >= 2


def test_lasting_cinder_failure_names_the_call(cloud_env, capsys):
    cloud_env.faults.fail('volume.get', status=500, times=100)
    code, _out, err = _validate(capsys)
    assert code == 1 and len(err.splitlines()) == 1, err
    assert 'GET volume' in err and 'HTTP 500' in err and '[request req-' in err


def test_debug_log_pairs_each_call_with_cinders_request_id(cloud_env, capsys):
    assert cli.main(['--debug', 'validate', str(EXAMPLE), '--os-cloud', 'embedded']) == 0
    lines = [line for line in capsys.readouterr().err.splitlines()
             if 'x-openstack-request-id=req-' in line and '/volume/v3/' in line]
    assert lines and all('(global req-' in line for line in lines)


def test_over_quota_413_is_not_retried(cloud_env, capsys):
    cloud_env.faults.fail('volume.get', status=413)
    code, _out, err = _validate(capsys)
    assert code == 1 and len(err.splitlines()) == 1, err
    assert 'HTTP 413' in err
    assert cloud_env.counters()['volume.get'] == 1

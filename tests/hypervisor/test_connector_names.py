"""connectors.py writes os-brick's protocol names out (so importing it does not
import os-brick): they must stay os-brick's."""

from os_brick import initiator

from blockflow.clients.hypervisor import connectors


def test_protocol_names_are_os_bricks():
    assert connectors.BRICK_PROTOCOLS == (
        initiator.ISCSI, initiator.ISER, initiator.FIBRE_CHANNEL, initiator.NVMEOF,
        initiator.LOCAL, initiator.RBD)
    assert connectors.VOLUME_TYPES == {p.lower() for p in connectors.BRICK_PROTOCOLS}

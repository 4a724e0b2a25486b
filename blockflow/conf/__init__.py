"""oslo.config options, one module per area; ``list_opts`` feeds oslo-config-generator."""

from oslo_config import cfg

from blockflow.conf import cloud
from blockflow.conf import validation

CONF = cfg.CONF

_AREAS = (validation, cloud)

for _area in _AREAS:
    _area.register_opts(CONF)


def list_opts():
    opts = []
    for area in _AREAS:
        opts.extend(area.list_opts())
    return opts


def validation_config(conf=CONF):
    """The deployment settings Nova's checks honour, from the loaded configuration."""
    return {'max_local_block_devices': conf.compute.max_local_block_devices,
            'max_disk_devices_to_attach': conf.compute.max_disk_devices_to_attach,
            'cross_az_attach': conf.cinder.cross_az_attach,
            'default_availability_zone': conf.blockflow.default_availability_zone}

"""oslo.config options, one module per area; ``list_opts`` feeds oslo-config-generator."""

from oslo_config import cfg

from blockflow.conf import cloud
from blockflow.conf import engine
from blockflow.conf import hypervisor
from blockflow.conf import validation

CONF = cfg.CONF

_AREAS = (validation, cloud, engine, hypervisor)

for _area in _AREAS:
    _area.register_opts(CONF)


def list_opts():
    opts = []
    for area in _AREAS:
        opts.extend(area.list_opts())
    return opts

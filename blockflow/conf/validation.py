"""Options of the request-validation layer (Nova's names where Nova has one)."""

from oslo_config import cfg

compute_group = cfg.OptGroup('compute', title='Nova compute settings blockflow honours')
cinder_group = cfg.OptGroup('cinder', title='Nova [cinder] settings blockflow honours')
blockflow_group = cfg.OptGroup('blockflow', title='blockflow extensions')
middleware_group = cfg.OptGroup('oslo_middleware',
                                title="oslo.middleware settings of Nova's API blockflow honours")

compute_opts = [
    cfg.IntOpt('max_local_block_devices', default=3,
               help='Maximum number of devices that create a local disk '
                    '(negative: unlimited, 0: boot from volume only).'),
    cfg.IntOpt('max_disk_devices_to_attach', default=-1, min=-1,
               help='Maximum number of disk devices per instance (-1: unlimited).'),
]
cinder_opts = [
    cfg.BoolOpt('cross_az_attach', default=True,
                help='Allow attaching volumes from another availability zone.'),
]
blockflow_opts = [
    cfg.BoolOpt('enable_backup_source', default=False,
                help='Accept source_type "backup" (the seed\'s Nova fork); '
                     'upstream Nova rejects it.'),
    cfg.StrOpt('default_availability_zone', default='nova',
               help='Availability zone of an instance that asks for none.'),
]


middleware_opts = [
    cfg.IntOpt('max_request_body_size', default=114688, min=1,
               help='Largest request body accepted, in bytes (oslo.middleware '
                    'sizelimit; Nova answers 413 above it).'),
]


def register_opts(conf):
    conf.register_group(compute_group)
    conf.register_group(cinder_group)
    conf.register_group(blockflow_group)
    conf.register_opts(compute_opts, group=compute_group)
    conf.register_opts(cinder_opts, group=cinder_group)
    conf.register_opts(blockflow_opts, group=blockflow_group)
    conf.register_group(middleware_group)
    conf.register_opts(middleware_opts, group=middleware_group)


def list_opts():
    return [(compute_group, compute_opts), (cinder_group, cinder_opts),
            (blockflow_group, blockflow_opts), (middleware_group, middleware_opts)]

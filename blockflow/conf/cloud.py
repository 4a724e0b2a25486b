"""Options of the cloud area: how blockflow's clients behave towards any cloud."""

from oslo_config import cfg

cloud_group = cfg.OptGroup('cloud', title='Talking to the cloud (Cinder, Glance, Nova)')

cloud_opts = [
    cfg.FloatOpt('timeout', default=60.0, min=0.1,
                 help='Seconds a single HTTP call to the cloud may take (connect and read) '
                      'unless the cloud configuration sets api_timeout.'),
    cfg.IntOpt('connect_retries', default=2, min=0,
               help='Retries (with backoff) of a call that could not connect.'),
    cfg.IntOpt('status_code_retries', default=2, min=0,
               help='Retries (with backoff) of a call answered with one of '
                    'retriable_status_codes.'),
    cfg.ListOpt('retriable_status_codes', item_type=int, default=[502, 503, 504],
                help='HTTP statuses that say the call did not act and may be repeated '
                     '(never 413: over quota stays over quota).'),
    cfg.IntOpt('read_retries', default=3, min=0,
               help="Retries of validation's read-only calls (GET) on a connection error "
                    'or a 5xx.'),
    cfg.StrOpt('flavor_file',
               help='JSON file of flavors ({"ID": {"name", "root_gb", "ephemeral_gb", '
                    '"swap", "vcpus", "memory_mb"}}) for clouds without a Compute API.'),
]
# blockflow's own Cinder client behaviour; the group is Nova's [cinder].
cinder_group = cfg.OptGroup('cinder', title='Nova [cinder] settings blockflow honours')
cinder_client_opts = [
    cfg.FloatOpt('volume_poll_interval', default=0.03, min=0.01,
                 help='Seconds between the starts of two status polls (blockflow: one '
                      'list call for all the volumes a process waits on).'),
]


def register_opts(conf):
    conf.register_group(cloud_group)
    conf.register_opts(cloud_opts, group=cloud_group)
    conf.register_group(cinder_group)
    conf.register_opts(cinder_client_opts, group=cinder_group)


def list_opts():
    return [(cloud_group, cloud_opts), (cinder_group, cinder_client_opts)]

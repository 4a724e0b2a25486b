"""python-openstackclient plugin: ``openstack blockflow ...`` where OSC is installed.

OSC loads this module through the ``openstack.cli.extension`` entry point and
the commands from the ``openstack.blockflow.v1`` namespace (the same classes
``blockflow`` runs). blockflow makes its own clients from the cloud options,
so the plugin's client is only the OSC's cloud region.
"""

API_NAME = 'blockflow'
API_VERSION_OPTION = 'os_blockflow_api_version'
API_VERSIONS = {'1': 'blockflow.cli.osc_plugin'}
DEFAULT_API_VERSION = '1'


def make_client(instance):
    """blockflow talks to Cinder/Glance itself: hand back OSC's cloud region."""
    return getattr(instance, '_cli_options', None)


def build_option_parser(parser):
    parser.add_argument('--os-blockflow-api-version', metavar='VERSION',
                        default=DEFAULT_API_VERSION,
                        help='blockflow command set version (default: 1)')
    return parser

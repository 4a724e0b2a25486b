"""Draw a persisted flow: its tasks in order, one cluster per device, each
task coloured by the state stored for it.

Only the persistence backend is read: the factory arguments TaskFlow saved in
the flow detail name the devices, the kind table (``blockflow.request.kinds``) gives
each device's steps, and the atom details give the states. Nothing of flows/,
tasks/, the clients or libvirt is imported, so a running, finished, failed or
crashed flow can be drawn from any process, even one without those installed.
"""

import html
import re

import pydot
from taskflow import states

from blockflow.request import atom_names
from blockflow.request import kinds
from blockflow import secrets

STATE_COLOURS = {
    states.PENDING: '#e0e0e0',
    states.RUNNING: '#ffd966',
    states.SUCCESS: '#93c47d',
    states.FAILURE: '#e06666',
    states.REVERTING: '#f6b26b',
    states.REVERTED: '#9fc5e8',
    states.REVERT_FAILURE: '#990000',
    states.RETRYING: '#c27ba0',
    states.IGNORE: '#f3f3f3',
}
LEGEND_ORDER = (states.PENDING, states.RUNNING, states.SUCCESS, states.FAILURE,
                states.REVERTING, states.REVERTED, states.REVERT_FAILURE)
FORMATS = ('svg', 'png', 'dot')


class FlowNotFound(LookupError):
    pass


def find_flow_detail(connection, flow_id):
    """Return (logbook, flow_detail) for a flow uuid (or unique uuid prefix)."""
    matches = []
    for book in connection.get_logbooks():
        for flow_detail in book:
            if flow_detail.uuid == flow_id or flow_detail.uuid.startswith(flow_id):
                matches.append((book, flow_detail))
    if len(matches) != 1:
        raise FlowNotFound(flow_id if not matches else
                           f'{flow_id} is ambiguous ({len(matches)} flows)')
    return matches[0]


def atom_summary(flow_detail):
    """{atom name: {'state', 'intention', 'failure'}} with failures masked."""
    summary = {}
    for atom_detail in flow_detail:
        failure = atom_detail.failure or atom_detail.revert_failure
        summary[atom_detail.name] = {
            'state': atom_detail.state or states.PENDING,
            'intention': atom_detail.intention,
            'failure': (secrets.mask_text(failure.pformat())
                        if failure is not None else None),
        }
    return summary


def _chain(edges, names):
    for name, following in zip(names, names[1:]):
        edges[name].add(following)


def _link(edges, before, after):
    """Every atom in ``before`` precedes every atom in ``after``."""
    for name in before:
        edges[name].update(after)


def boot_edges(instance_uuid, devices):
    """{atom name: successors} of the boot flow of ``devices`` (flows.instance):
    the domain's steps, every device's kind-table steps in parallel, the start."""
    def atom(group, step):
        return atom_names.atom_name(instance_uuid, group, step)
    before = [atom(kinds.BOOT_GROUP, step) for step in kinds.BOOT_BEFORE]
    after = [atom(kinds.BOOT_GROUP, step) for step in kinds.BOOT_AFTER]
    chains = []
    for device in devices:
        spec = kinds.spec_of(device.get('kind'))
        dev = atom_names.device_key(device)
        chains.append([atom(dev, step) for step in (spec.steps if spec else ())])
    return _parallel(before, chains, after)


def delete_edges(instance_uuid, devices):
    """{atom name: successors} of the delete flow (flows.delete)."""
    chains = [[atom_names.atom_name(instance_uuid, atom_names.device_key(device), step)
               for step in kinds.delete_steps(device)] for device in devices]
    after = [atom_names.atom_name(instance_uuid, kinds.DELETE_GROUP, step)
             for step in kinds.DELETE_INSTANCE_STEPS]
    return _parallel([], chains, after)


def _parallel(before, chains, after):
    edges = {name: set() for name in before + after}
    for chain in chains:
        edges.update({name: set() for name in chain})
    _chain(edges, before)
    _chain(edges, after)
    chains = [chain for chain in chains if chain]
    heads = [chain[0] for chain in chains] or after[:1]
    tails = [chain[-1] for chain in chains] or before[-1:]
    _link(edges, before[-1:], heads)
    _link(edges, tails, after[:1])
    for chain in chains:
        _chain(edges, chain)
    return edges


# The flow factories whose shape is drawn (stored under their import path;
# the last part is enough, so a factory moved to another module still draws).
_SHAPES = {'create_boot_flow': boot_edges, 'create_delete_flow': delete_edges}


def factory_edges(factory_name, factory_kwargs):
    """{atom name: successors} of a flow from its factory's name and arguments;
    None when the factory is not one blockflow knows."""
    shape = _SHAPES.get(str(factory_name or '').rsplit('.', 1)[-1])
    if shape is None:
        return None
    devices = [d for d in factory_kwargs.get('devices') or () if isinstance(d, dict)]
    return shape(factory_kwargs.get('instance_uuid', ''), devices)


def stored_edges(flow_detail):
    """The edges of a persisted flow.

    blockflow's own flows are drawn from the kind table; a flow some other
    factory made (one TaskFlow stored elsewhere in the same database) has no
    table, so only then is it rebuilt from its factory and compiled.
    """
    factory = (flow_detail.meta or {}).get('factory') or {}
    edges = factory_edges(factory.get('name'), factory.get('kwargs') or {})
    if edges is None:
        from taskflow.engines import helpers as engine_helpers
        edges = task_graph(engine_helpers.flow_from_detail(flow_detail))
    return edges


def task_graph(flow):
    """Task-only ordering graph of a flow: {task name: set(successor names)}.

    The compiled execution graph also has flow entry/exit nodes; the picture
    is clearer with those collapsed into direct task→task edges.
    """
    import taskflow.engines
    engine = taskflow.engines.load(flow)     # in memory; compiling runs nothing
    engine.compile()
    graph = engine.compilation.execution_graph
    node_kinds = {node: data.get('kind') for node, data in graph.nodes(data=True)}
    atom_kinds = ('task', 'retry')       # the execution graph's node kinds

    def next_atoms(node):
        found, stack, seen = set(), list(graph.successors(node)), set()
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            if node_kinds[current] in atom_kinds:
                found.add(current.name)
            else:
                stack.extend(graph.successors(current))
        return found

    return {node.name: next_atoms(node)
            for node in graph.nodes if node_kinds[node] in atom_kinds}


def default_cluster_of(atom_name, prefix=''):
    """Cluster key of an atom: its group (device key or instance group)."""
    return atom_names.group_of(atom_name, prefix)


def _step_label(atom_name, cluster):
    return atom_names.step_of(atom_name, cluster)


def build_dot(edges, summary, title, cluster_of, cluster_labels=None):
    cluster_labels = cluster_labels or {}
    dot = pydot.Dot(graph_type='digraph', rankdir='LR', label=html.escape(title),
                    labelloc='t', fontname='Helvetica', compound='true')
    dot.set_node_defaults(shape='box', style='rounded,filled', fontname='Helvetica',
                          fontsize='10')
    clusters = {}
    for name in edges:
        key = cluster_of(name)
        if key not in clusters:
            clusters[key] = pydot.Cluster(
                re.sub(r'\W', '_', key), label=html.escape(cluster_labels.get(key, key)),
                style='rounded', color='#666666', fontname='Helvetica')
            dot.add_subgraph(clusters[key])
        info = summary.get(name, {'state': states.PENDING})
        state = info['state']
        clusters[key].add_node(pydot.Node(
            _dot_id(name), label=f'{_step_label(name, key)}\\n{state}',
            fillcolor=STATE_COLOURS.get(state, '#ffffff'),
            tooltip=html.escape(info.get('failure') or state)))
    for name, successors in edges.items():
        for successor in sorted(successors):
            dot.add_edge(pydot.Edge(_dot_id(name), _dot_id(successor)))
    legend = pydot.Cluster('cluster_legend', label='state', fontname='Helvetica')
    for state in LEGEND_ORDER:
        legend.add_node(pydot.Node(f'legend_{state}', label=state,
                                   fillcolor=STATE_COLOURS[state]))
    dot.add_subgraph(legend)
    return dot


def _dot_id(text):
    return '"' + str(text).replace('"', '\\"') + '"'


def flow_dot(connection, flow_id, cluster_of=None, cluster_labels=None):
    """pydot graph of a persisted flow."""
    _book, flow_detail = find_flow_detail(connection, flow_id)
    summary = atom_summary(flow_detail)
    if cluster_labels is None:
        cluster_labels = device_labels(flow_detail)
    state = flow_detail.state or states.PENDING
    title = f'{flow_detail.name} ({flow_detail.uuid}) — {state}'
    return build_dot(stored_edges(flow_detail), summary, title,
                     cluster_of or default_cluster_of, cluster_labels)


def device_labels(flow_detail):
    """'vdb' → '/dev/vdb (blank->volume)', from the factory arguments stored."""
    factory = (flow_detail.meta or {}).get('factory') or {}
    devices = (factory.get('kwargs') or {}).get('devices') or []
    return {atom_names.device_key(d): f"{d['device_name']} ({d.get('kind')})"
            for d in devices if isinstance(d, dict) and d.get('device_name')}


def write(dot, path):
    """Write DOT, SVG or PNG by the file's extension (SVG/PNG need graphviz)."""
    fmt = str(path).rsplit('.', 1)[-1].lower() if '.' in str(path) else ''
    if fmt not in FORMATS:
        raise ValueError(f'output file must end in one of: '
                         f'{", ".join("." + f for f in FORMATS)} (got {path})')
    if fmt == 'dot':
        with open(path, 'w', encoding='utf-8') as stream:
            stream.write(dot.to_string())
    else:
        dot.write(str(path), format=fmt)
    return fmt

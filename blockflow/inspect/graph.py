"""Draw a persisted flow: TaskFlow's execution graph, one cluster per device,
each task coloured by the state stored for it.

Only the persistence backend is read: the flow is rebuilt from the factory
TaskFlow saved in the flow detail, compiled (which has no side effect), and
the atom details give the states. So a running, finished, failed or crashed
flow can be drawn from any process.
"""

import html
import re

import pydot
from taskflow import states
from taskflow.engines import helpers as engine_helpers
from taskflow.engines.action_engine import compiler

from blockflow import atom_names
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


def task_graph(flow):
    """Task-only ordering graph of a flow: {task name: set(successor names)}.

    The compiled execution graph also has flow entry/exit nodes; the picture
    is clearer with those collapsed into direct task→task edges.
    """
    graph = compiler.PatternCompiler(flow).compile().execution_graph
    kinds = {node: data.get('kind') for node, data in graph.nodes(data=True)}
    atom_kinds = (compiler.TASK, compiler.RETRY)

    def next_atoms(node):
        found, stack, seen = set(), list(graph.successors(node)), set()
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            if kinds[current] in atom_kinds:
                found.add(current.name)
            else:
                stack.extend(graph.successors(current))
        return found

    return {node.name: next_atoms(node)
            for node in graph.nodes if kinds[node] in atom_kinds}


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
    flow = engine_helpers.flow_from_detail(flow_detail)
    summary = atom_summary(flow_detail)
    if cluster_labels is None:
        cluster_labels = device_labels(flow_detail)
    state = flow_detail.state or states.PENDING
    title = f'{flow_detail.name} ({flow_detail.uuid}) — {state}'
    return build_dot(task_graph(flow), summary, title,
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

"""`blockflow ui`: a page listing flows and showing one flow's graph and task
table, refreshed live from the persistence backend while a boot runs.

Read-only, loopback by default, and everything it returns goes through the
same masking as the CLI.
"""

import contextlib
import html
import json
import threading

import webob
import webob.dec
import webob.exc

from blockflow import secrets
from blockflow import wsgi_server
from blockflow.inspect import graph
from blockflow.inspect import report

REFRESH_MS = 1000
UI_THREADS = 8

_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>blockflow — {title}</title>
<style>
body {{ font-family: Helvetica, Arial, sans-serif; margin: 1.5em; }}
table {{ border-collapse: collapse; margin-top: 1em; }}
td, th {{ border: 1px solid #ccc; padding: 3px 8px; font-size: 13px; }}
th {{ background: #f0f0f0; }}
.state-SUCCESS {{ background: #93c47d; }} .state-RUNNING {{ background: #ffd966; }}
.state-FAILURE {{ background: #e06666; }} .state-REVERTED {{ background: #9fc5e8; }}
.state-REVERTING {{ background: #f6b26b; }} .state-PENDING {{ background: #e0e0e0; }}
#graph svg {{ max-width: 100%; height: auto; }}
</style></head>
<body><h1>blockflow</h1><p><a href="/">all flows</a></p>
<div id="content">{body}</div>
<script>
const view = {view};
async function refresh() {{
  try {{
    const response = await fetch(view.api);
    if (!response.ok) return;
    const data = await response.json();
    document.getElementById('content').innerHTML = data.html;
  }} catch (e) {{}}
}}
setInterval(refresh, {refresh});
</script></body></html>
"""


def _cell(value, css=None):
    text = '' if value is None else html.escape(str(value))
    return f'<td class="{css}">{text}</td>' if css else f'<td>{text}</td>'


def flows_html(rows):
    lines = ['<h2>Flows</h2><table id="flows"><tr><th>flow</th><th>instance</th>'
             '<th>state</th><th>started</th><th>devices done</th></tr>']
    for row in rows:
        link = f'<a href="/flows/{html.escape(row["flow_id"])}">{html.escape(row["flow_id"])}</a>'
        lines.append(
            f'<tr><td>{link}</td>{_cell(row["instance_uuid"])}'
            f'{_cell(row["state"], "state-" + row["state"])}{_cell(row["created_at"])}'
            f'{_cell(str(row["devices_done"]) + "/" + str(row["devices_total"]))}</tr>')
    lines.append('</table>')
    return ''.join(lines)


def flow_html(shown, svg):
    lines = [f'<h2>Flow {html.escape(shown["flow_id"])} — '
             f'<span id="flow-state" class="state-{html.escape(shown["state"])}">'
             f'{html.escape(shown["state"])}</span></h2>',
             f'<div id="graph">{svg}</div>',
             '<table id="tasks"><tr><th>device</th><th>step</th><th>state</th>'
             '<th>duration (s)</th><th>attempts</th><th>volume</th><th>failure</th></tr>']
    for device, rows in sorted(shown['devices'].items()):
        for row in rows:
            lines.append(
                f'<tr data-atom="{html.escape(row["atom"])}">{_cell(device)}{_cell(row["step"])}'
                f'{_cell(row["state"], "state-" + row["state"])}{_cell(row["duration_s"])}'
                f'{_cell(row["attempts"])}{_cell(row["volume_id"])}{_cell(row["failure"])}</tr>')
    lines.append('</table>')
    return ''.join(lines)


def _svg(dot):
    svg = dot.create_svg().decode('utf-8')
    # Inline SVG: drop the XML prolog and doctype.
    start = svg.find('<svg')
    return secrets.mask_text(svg[start:] if start >= 0 else svg)


class InspectApp:
    """WSGI application over a TaskFlow persistence backend."""

    def __init__(self, backend, cluster_labels=None):
        self.backend = backend
        self.cluster_labels = cluster_labels

    @contextlib.contextmanager
    def _connection(self):
        with contextlib.closing(self.backend.get_connection()) as conn:
            yield conn

    def _flow_parts(self, flow_id):
        with self._connection() as conn:
            shown = report.flow_report(conn, flow_id)
            _book, flow_detail = graph.find_flow_detail(conn, flow_id)
            prefix = report.flow_prefix(flow_detail)
            dot = graph.flow_dot(
                conn, flow_detail.uuid,
                cluster_of=lambda name: graph.default_cluster_of(name, prefix),
                cluster_labels=self.cluster_labels)
        return shown, dot

    @webob.dec.wsgify
    def __call__(self, request):
        parts = [p for p in request.path_info.split('/') if p]
        try:
            return self._route(parts)
        except graph.FlowNotFound as exc:
            raise webob.exc.HTTPNotFound(f'flow {exc} not found')

    def _route(self, parts):
        if not parts:
            with self._connection() as conn:
                rows = report.list_flows(conn)
            return self._page('flows', flows_html(rows), '/api/flows')
        if parts == ['api', 'flows']:
            with self._connection() as conn:
                rows = report.list_flows(conn)
            return self._json({'flows': rows, 'html': flows_html(rows)})
        if len(parts) == 2 and parts[0] == 'flows':
            shown, dot = self._flow_parts(parts[1])
            return self._page(parts[1], flow_html(shown, _svg(dot)),
                              f'/api/flows/{parts[1]}')
        if len(parts) == 3 and parts[:2] == ['api', 'flows']:
            shown, dot = self._flow_parts(parts[2])
            return self._json({'flow': shown, 'html': flow_html(shown, _svg(dot))})
        if len(parts) == 3 and parts[0] == 'flows' and parts[2] == 'graph.svg':
            _shown, dot = self._flow_parts(parts[1])
            return webob.Response(body=_svg(dot).encode(), content_type='image/svg+xml')
        raise webob.exc.HTTPNotFound()

    def _page(self, title, body, api):
        text = _PAGE.format(title=html.escape(title), body=body,
                            view=json.dumps({'api': api}), refresh=REFRESH_MS)
        return webob.Response(body=secrets.mask_text(text).encode('utf-8'),
                              content_type='text/html', charset='utf-8')

    @staticmethod
    def _json(data):
        body = json.dumps(secrets.mask(data), default=str)
        return webob.Response(body=body.encode('utf-8'),
                              content_type='application/json', charset='utf-8')


class InspectServer:
    """The web view served by cheroot in a background thread."""

    def __init__(self, backend, host='127.0.0.1', port=0):
        # Idle or trickling browsers/clients wait in the selector or are cut
        # off by the read deadline, so a few workers serve every page.
        self._server = wsgi_server.Server((host, port), InspectApp(backend),
                                          numthreads=UI_THREADS)
        self._thread = None

    @property
    def url(self):
        host, port = self._server.bind_addr[:2]
        return f'http://{host}:{port}'

    def start(self):
        self._server.prepare()
        self._thread = threading.Thread(target=self._server.serve, daemon=True,
                                        name='blockflow-ui')
        self._thread.start()
        return self

    def serve_forever(self):
        self._server.safe_start()

    def stop(self):
        self._server.stop()
        if self._thread:
            self._thread.join(timeout=5)

"""A cheroot WSGI server that keeps serving under idle and slow clients.

Stock cheroot hands every new connection to a worker thread at once, and the
worker waits for the request line for the whole socket timeout: a few hundred
clients that connect and send nothing (or trickle a byte at a time) hold every
worker. Here a new connection waits in cheroot's selector until it has bytes
to read, and a watchdog closes a connection whose request (line, headers and
body) is not in after ``READ_DEADLINE_S``, however slowly it trickles.
Request line + headers and bodies are capped as Cinder caps them.
"""

import io
import socket
import threading
import time

from cheroot import errors as cheroot_errors
from cheroot import server as cheroot_server
from cheroot import wsgi

# Cinder's osapi_max_request_body_size; eventlet's request-line cap; header cap.
MAX_BODY_BYTES = 114_688
MAX_URL_BYTES = 8_192
MAX_HEADER_BYTES = 65_536
READ_DEADLINE_S = 5.0
IDLE_TIMEOUT_S = 5.0
WATCH_INTERVAL_S = 0.25

_current = threading.local()


class _Watchdog:
    """Shuts down connections whose request is not read by their deadline."""

    def __init__(self, deadline_s):
        self.deadline_s = deadline_s
        self._lock = threading.Lock()
        self._armed = {}
        self._stop = threading.Event()
        self._thread = None

    def start(self):
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, daemon=True,
                                            name='wsgi-read-watchdog')
            self._thread.start()

    def stop(self):
        self._stop.set()

    def arm(self, conn):
        with self._lock:
            self._armed[conn] = time.monotonic() + self.deadline_s

    def disarm(self, conn):
        with self._lock:
            self._armed.pop(conn, None)

    def _run(self):
        while not self._stop.wait(WATCH_INTERVAL_S):
            now = time.monotonic()
            with self._lock:
                late = [c for c, deadline in self._armed.items() if deadline < now]
                for conn in late:
                    del self._armed[conn]
            for conn in late:
                try:    # the blocked read returns EOF; cheroot drops the connection
                    conn.socket.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class _Request(cheroot_server.HTTPRequest):
    def parse_request(self):
        self.server.watchdog.arm(self.conn)
        super().parse_request()
        if not self.ready:
            self.server.watchdog.disarm(self.conn)

    def respond(self):
        _current.conn, _current.watchdog = self.conn, self.server.watchdog
        try:
            super().respond()
        finally:
            self.server.watchdog.disarm(self.conn)
            _current.conn = _current.watchdog = None


class _Connection(cheroot_server.HTTPConnection):
    RequestHandlerClass = _Request


class Server(wsgi.Server):
    """cheroot's WSGI server with the defences above."""

    ConnectionClass = _Connection

    def __init__(self, bind_addr, app, numthreads, too_large=None, **kwargs):
        kwargs.setdefault('timeout', IDLE_TIMEOUT_S)
        super().__init__(bind_addr, BodyLimit(app, too_large), numthreads=numthreads,
                         **kwargs)
        self.max_request_header_size = MAX_HEADER_BYTES
        # Bodies are capped by BodyLimit, which answers in the app's own format.
        self.max_request_body_size = 0
        self.watchdog = _Watchdog(READ_DEADLINE_S)

    def prepare(self):
        self.watchdog.start()
        super().prepare()

    def stop(self):
        self.watchdog.stop()
        super().stop()

    def process_conn(self, conn):
        # A new connection waits in the selector until it is readable rather
        # than holding a worker while its client says nothing.
        if not getattr(conn, 'blockflow_seen', False):
            conn.blockflow_seen = True
            if not conn.rfile.has_data():
                self._connections.put(conn)
                return
        super().process_conn(conn)


def _plain_too_large(start_response, status, message):
    body = message.encode('utf-8')
    start_response(status, [('Content-Type', 'text/plain'),
                            ('Content-Length', str(len(body))), ('Connection', 'close')])
    return [body]


class BodyLimit:
    """Reads the whole body under the watchdog, refusing what is over the caps.

    ``too_large(start_response, status, message)`` writes the refusal (the
    cloud answers with Cinder's JSON fault body).
    """

    def __init__(self, app, too_large=None):
        self.app = app
        self.too_large = too_large or _plain_too_large

    def __call__(self, environ, start_response):
        url_length = len(environ.get('PATH_INFO', '')) + len(environ.get('QUERY_STRING', ''))
        if url_length > MAX_URL_BYTES:
            return self.too_large(start_response, '414 Request-URI Too Long',
                                  'Request URI is too long.')
        try:
            length = int(environ.get('CONTENT_LENGTH') or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY_BYTES:
            return self.too_large(start_response, '413 Request Entity Too Large',
                                  'Request is too large.')
        stream = environ.get('wsgi.input')
        body = b''
        if stream is not None:
            try:
                body = stream.read(length) if length else stream.read(MAX_BODY_BYTES + 1)
            except cheroot_errors.MaxSizeExceeded:
                body = b'x' * (MAX_BODY_BYTES + 1)
            except (OSError, ValueError):
                body = b''
            if len(body) > MAX_BODY_BYTES:
                return self.too_large(start_response, '413 Request Entity Too Large',
                                      'Request is too large.')
        environ['wsgi.input'] = io.BytesIO(body)
        environ['CONTENT_LENGTH'] = str(len(body))
        conn = getattr(_current, 'conn', None)
        if conn is not None:
            _current.watchdog.disarm(conn)      # the request is in: handling may take long
        return self.app(environ, start_response)

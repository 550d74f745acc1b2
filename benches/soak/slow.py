"""One address (127.0.20.1) opens N connections and sends half a request header on each, then
keeps them open for SECS seconds. Prints how many tollgate held after 5 s and at the end."""
import socket
import sys
import time

host, port, n, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
partial = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 2000
socks = []
opened = 0
for _ in range(n):
    s = socket.socket()
    try:
        s.bind(("127.0.20.1", 0))
        s.connect((host, port))
        s.sendall(partial)
        opened += 1
        socks.append(s)
    except OSError:
        s.close()


def held():
    """Connections tollgate has not closed (peeked, nothing consumed)."""
    count = 0
    for s in socks:
        s.setblocking(False)
        try:
            count += s.recv(1, socket.MSG_PEEK) != b""
        except BlockingIOError:
            count += 1
        except OSError:
            pass
    return count


start = time.time()
time.sleep(5)
early = held()
time.sleep(max(0.0, secs - (time.time() - start)))
print(f"{n} connections attempted, {opened} sent 2 KB of header; tollgate held {early} "
      f"after 5 s and {held()} after {secs:.0f} s")

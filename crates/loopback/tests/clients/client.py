"""Connect the way a Python program does and print what happened.

`python3 client.py socket|requests HOST PORT`: prints `connected ADDRESS` (the peer the
client reached) or `error MESSAGE`, the error the program would show.
"""
import socket
import sys

mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
try:
    if mode == "socket":
        s = socket.create_connection((host, port), timeout=5)
        print("connected", s.getpeername()[0])
    elif mode == "requests":
        import requests

        url = "http://%s:%d/" % (host if ":" not in host else "[%s]" % host, port)
        # The test's servers answer with the address they were reached at.
        print("connected", requests.get(url, timeout=5).text)
    else:
        sys.exit("unknown mode " + mode)
except Exception as e:  # the message the program would show
    print("error %s: %s" % (type(e).__name__, str(e).replace("\n", " ")))

"""Drives a command on a pseudo-terminal, as a person at a terminal would.

Usage: drive_terminal.py STEPS_JSON COMMAND [ARG...]

STEPS_JSON is a list of steps, run in order:
  ["send", TEXT]          type TEXT
  ["expect", TEXT]        wait (up to 20 s) until TEXT has been printed after the last expect
  ["resize", ROWS, COLS]  change the terminal's size (the command gets SIGWINCH)
  ["until", TEXT, SEND]   type SEND, and again every second, until TEXT has been printed after
                          the last expect (up to 20 s): for what reaches the command on its own
                          time, as a new window size does
The terminal starts at 30 rows and 100 columns. Prints one JSON object: the whole output and
the command's exit status, or the step that timed out.
"""
import fcntl
import json
import os
import pty
import select
import struct
import sys
import termios
import time


def main():
    steps = json.loads(sys.argv[1])
    argv = sys.argv[2:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(argv[0], argv)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    out = b""
    seen = 0
    failed = None

    def read(deadline):
        nonlocal out
        while time.time() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(fd, 4096)
            except OSError:
                return False
            if not data:
                return False
            out += data
            return True
        return True

    def wait_for(want, until, resend=None):
        """Reads until `want` shows after the last expect (typing `resend` again every second),
        or `until` passes; True once it showed."""
        while want not in out[seen:] and time.time() < until:
            if resend is not None:
                os.write(fd, resend)
            step_end = min(until, time.time() + 1) if resend is not None else until
            while want not in out[seen:] and time.time() < step_end:
                if not read(step_end):
                    return want in out[seen:]
        return want in out[seen:]

    for step in steps:
        if step[0] == "send":
            os.write(fd, step[1].encode())
        elif step[0] == "resize":
            fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", step[1], step[2], 0, 0))
        elif step[0] in ("expect", "until"):
            want = step[1].encode()
            resend = step[2].encode() if step[0] == "until" else None
            if not wait_for(want, time.time() + 20, resend):
                failed = step
                break
            seen = out.find(want, seen) + len(want)
    deadline = time.time() + 20
    while read(deadline) and time.time() < deadline:
        pass
    try:
        os.kill(pid, 9) if failed else None
    except ProcessLookupError:
        pass
    _, status = os.waitpid(pid, 0)
    print(json.dumps({
        "output": out.decode(errors="replace"),
        "exit": os.waitstatus_to_exitcode(status),
        "failed": failed,
    }))


main()

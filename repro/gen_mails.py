#!/usr/bin/env python3
"""Writes the hostile mails of the attack report into the directory given (default /tmp).
Each is under max_message_bytes (25 MB); run `peak.sh FILE` on each."""
import sys
d = sys.argv[1] if len(sys.argv) > 1 else '/tmp'
hdr = 'From: a@b.dk\r\nTo: h@x.dk\r\nSubject: x\r\nMessage-ID: <1@b.dk>\r\nMIME-Version: 1.0\r\n'
n = 24_000_000
def w(name, s):
    open(f'{d}/{name}', 'w').write(s)
# Plain-text body of "a:" lines: read in the daemon's own process.
w('labels.eml', hdr + 'Content-Type: text/plain\r\n\r\n' + 'a:\n' * (n // 3))
# One MIME part whose header section has 6 million lines (only the mail's own header is limited).
w('parthdr.eml', hdr + 'Content-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\n'
  + 'a:b\n' * (n // 4) + '\r\nhi\r\n--BB--\r\n')
# The same inside a forwarded mail that is not encoded (no boundary line before its header).
w('fwdhdr.eml', hdr + 'Content-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\n'
  + 'Content-Type: message/rfc822\r\n\r\n' + 'a:b\n' * (n // 4) + '\r\nhi\r\n--BB--\r\n')
# HTML body of 1.5 million "a:<br>": the child reads it, the parent takes back every entry.
w('html2.eml', hdr + 'Content-Type: text/html\r\n\r\n' + 'a:<br>' * 1_500_000)
# 200,000 forwarded mails nested without a boundary line (6.4 MB): mail-parser parses them
# without recursion but drops them recursively; the daemon's process overflowed its stack.
w('deep.eml', hdr + 'Content-Type: message/rfc822\r\n\r\n' * 200_000
  + 'Subject: in\r\n\r\nCVR-nr.: 1\r\n')
# The same spelled `message (x) /rfc822`, which mail-parser also takes as a forwarded mail.
w('deep_comment.eml', hdr + 'Content-Type: message (x) /rfc822\r\n\r\n' * 200_000
  + 'Subject: in\r\n\r\nCVR-nr.: 1\r\n')
# 6 million header fields in the mail's own header section (24 MB): over the header limits, so
# intake quarantines it, and the quarantine read all its headers (1.4 GB) on every attempt.
w('tophdr.eml', 'From: a@b.dk\r\nSubject: x\r\nMessage-ID: <1@b.dk>\r\n' + 'a:b\n' * (n // 4)
  + '\r\nhi\r\n')
# One References field of 7 million ids in a forwarded mail (21 MB): 623 MB in the daemon.
w('refs.eml', hdr + 'Content-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\n'
  + 'Content-Type: message/rfc822\r\n\r\nFrom: c@d.dk\r\nReferences: ' + '<a>' * 7_000_000
  + '\r\n\r\nhi\r\n--BB--\r\n')
# One Content-Type of 5.5 million parameters in a part (22 MB): 307 MB.
w('params.eml', hdr + 'Content-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\n'
  + 'Content-Type: text/plain; ' + 'a=b;' * 5_500_000 + '\r\n\r\nhi\r\n--BB--\r\n')

#!/usr/bin/env python3
"""mkpdf.py OUT N CHAR: a one-page PDF whose page content, FlateDecode'd, shows N copies of CHAR
in one text string (a few KB on the wire; the reader's text grows to N bytes)."""
import sys, zlib
out, n, ch = sys.argv[1], int(sys.argv[2]), sys.argv[3]
esc = {'(': '\\(', ')': '\\)', '\\': '\\\\'}.get(ch, ch)
content = b'BT /F1 12 Tf 72 712 Td (Navn: ' + (esc * n).encode('latin-1') + b') Tj ET'
z = zlib.compress(content, 9)
objs = [
    b'<< /Type /Catalog /Pages 2 0 R >>',
    b'<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    b'<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    b'<< /Length %d /Filter /FlateDecode >>\nstream\n' % len(z) + z + b'\nendstream',
    b'<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>',
]
pdf = b'%PDF-1.4\n'
offs = []
for i, o in enumerate(objs, 1):
    offs.append(len(pdf))
    pdf += b'%d 0 obj\n' % i + o + b'\nendobj\n'
x = len(pdf)
pdf += b'xref\n0 %d\n0000000000 65535 f \n' % (len(objs) + 1)
for o in offs:
    pdf += b'%010d 00000 n \n' % o
pdf += b'trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n' % (len(objs) + 1, x)
open(out, 'wb').write(pdf)

"""Count the parts of a multipart stream with Python's own parsers.

Usage: count_parts.py URL

Prints one JSON object: the part count and types seen by
requests_toolbelt's MultipartDecoder and by the email package.
"""
import email
import email.policy
import json
import sys
import urllib.request

from requests_toolbelt.multipart.decoder import MultipartDecoder

with urllib.request.urlopen(sys.argv[1], timeout=60) as resp:
    content_type = resp.headers["Content-Type"]
    body = resp.read()

decoded = MultipartDecoder(body, content_type)
toolbelt = [part.headers.get(b"Content-Type", b"").decode() for part in decoded.parts]

message = email.message_from_bytes(
    b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body,
    policy=email.policy.HTTP,
)
parsed = [part.get_content_type() for part in message.iter_parts()]
defects = [type(d).__name__ for d in message.defects]

json.dump({"toolbelt": toolbelt, "email": parsed, "email_defects": defects}, sys.stdout)

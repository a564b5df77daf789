"""A local test token issuer: an ES256 key, its JWK set, and tokens signed with it.

    python test_issuer.py keys DIR                  # DIR/issuer.pem (private) and DIR/jwks.json
    python test_issuer.py token DIR ISSUER AUDIENCE SUBJECT TENANT ROLE SCOPE [TTL_SECONDS]

Uses PyJWT and cryptography (both come with the MCP Python SDK). For trying the gateway's
token support and for its tests; a real deployment uses its identity provider instead.
"""

import json
import os
import sys
import time
import uuid

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

KID = "test-issuer-1"


def keys(directory: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "issuer.pem"), "wb") as f:
        f.write(pem)
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": KID, "alg": "ES256", "use": "sig"})
    with open(os.path.join(directory, "jwks.json"), "w") as f:
        json.dump({"keys": [jwk]}, f)


def token(directory, issuer, audience, subject, tenant, role, scope, ttl="600") -> str:
    with open(os.path.join(directory, "issuer.pem"), "rb") as f:
        pem = f.read()
    now = int(time.time())
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "tenant": tenant,
        "roles": [role],
        "scope": scope,
        "jti": str(uuid.uuid4()),
        "iat": now,
        "exp": now + int(ttl),
    }
    return jwt.encode(claims, pem, algorithm="ES256", headers={"kid": KID})


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "keys":
        keys(sys.argv[2])
    elif len(sys.argv) >= 9 and sys.argv[1] == "token":
        print(token(*sys.argv[2:]))
    else:
        sys.exit(__doc__)

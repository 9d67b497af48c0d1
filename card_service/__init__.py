"""permit: residence-permit IC cards: issuance and verification."""

"""Key stores, signers and key providers (see the keys issue)."""

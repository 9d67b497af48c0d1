"""Host side of the permit card application: APDUs, secure messaging, sessions."""

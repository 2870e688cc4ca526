"""The command line: `diplomas init | serve | issue | revoke | verify | token | keys`."""

"""Code that runs inside AWS: small, typed, standard library and the runtime's boto3 only."""

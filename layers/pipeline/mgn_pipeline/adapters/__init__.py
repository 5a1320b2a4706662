"""Small wrappers around injected boto3 clients that speak the pipeline's types and errors."""

"""Card side: a software implementation of docs/card-application.md."""

"""`kitt stack`: docker-compose deployments of KITT (NATS, PostgreSQL, `kitt serve`, `kitt project`)."""

# kitt-agent, the thin agent for GPU hosts, on the KITT image (build that first: `docker build -t kitt .`).
#   docker build -t kitt-agent -f docker/agent.Dockerfile .
#   docker run -d --network host -v /var/run/docker.sock:/var/run/docker.sock -v /models:/models:ro \
#     -v ~/.kitt:/app/kitt-results kitt-agent start      (agent.yaml from `kitt-agent init` in that folder)
# KITT_IMAGE: the KITT image to build on (itself built on a public or a local Debian base).
ARG KITT_IMAGE=kitt
FROM ${KITT_IMAGE}
ENTRYPOINT ["kitt-entrypoint", "kitt-agent"]
CMD ["start"]

from tests.agents.conftest import agent, agent_api, foreign_agent, made, role  # noqa: F401

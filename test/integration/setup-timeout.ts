// Integration tests drive real servers (CloudFormation stacks, rollouts); jest's 5 s default is far too short.
jest.setTimeout(180_000);

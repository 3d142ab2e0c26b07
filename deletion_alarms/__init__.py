"""Operations that call AWS (boto3) and the installed ``deletion-alarms`` command."""

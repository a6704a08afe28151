"""AWS Lambda functions of the serverless cloud side (deployment/cloud/edgewatch.yaml).

Each module is a pure core (clients, clock and HTTP passed in) plus a thin `handler(event, context)`
that builds real boto3 clients from the environment on first use. `edgewatch cloud deploy` zips this
package with the AlertRouter's Block Kit renderer (`alert_router.notification`,
`alert_router.receivers.slack_blocks`), so Slack messages look the same from a gateway and from the cloud.
"""

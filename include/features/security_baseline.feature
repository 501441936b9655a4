Feature: The security baseline deployed into every account
  The baseline gives each account a rotating KMS key, private and encrypted audit storage,
  a read-only audit role and an encrypted alerts topic.

  Background:
    Given the template "templates/security-baseline.yaml"

  Scenario: Every bucket is encrypted, versioned and private
    Then every S3 bucket has encryption
    And every S3 bucket has versioning enabled
    And every S3 bucket blocks public access

  Scenario: The baseline key rotates and survives stack deletion
    Then every KMS key has rotation enabled
    And every resource of type "AWS::KMS::Key" has DeletionPolicy "Retain"

  Scenario: The audit role grants no administrator access
    Then resource "AuditRole" of type "AWS::IAM::Role" has property "AssumeRolePolicyDocument"
    And no IAM statement allows "*" on "*"

  Scenario: Security alerts are encrypted at rest
    Then resource "AlertsTopic" of type "AWS::SNS::Topic" has property "KmsMasterKeyId"

  Scenario: The audit bucket writes access logs
    Then resource "AuditBucket" of type "AWS::S3::Bucket" has property "LoggingConfiguration.DestinationBucketName"

  Scenario Outline: Fleet-managed resources carry the ownership tag
    Then every resource of type "<type>" has the tag "fleet:managed-by"

    Examples:
      | type             |
      | AWS::S3::Bucket  |
      | AWS::KMS::Key    |
      | AWS::IAM::Role   |
      | AWS::SNS::Topic  |

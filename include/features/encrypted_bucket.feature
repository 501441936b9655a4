Feature: The encrypted-bucket Service Catalog product
  Teams launch this bucket from the Shared Services portfolio: it must be safe by default.

  Background:
    Given the template "templates/products/encrypted-bucket.yaml"

  Scenario: The product bucket is encrypted with KMS, versioned and private
    Then every S3 bucket has encryption
    And resource "Bucket" of type "AWS::S3::Bucket" has property "BucketEncryption.ServerSideEncryptionConfiguration.0.ServerSideEncryptionByDefault.SSEAlgorithm" equal to "aws:kms"
    And every S3 bucket has versioning enabled
    And every S3 bucket blocks public access

  Scenario: The product bucket keeps its data when the product is terminated
    Then every resource of type "AWS::S3::Bucket" has DeletionPolicy "Retain"

  Scenario: The product tells the launcher where the bucket is
    Then the template has an output "BucketName"
    And the template has an output "BucketArn"

  Scenario: The product bucket refuses plain HTTP
    Then resource "BucketPolicy" of type "AWS::S3::BucketPolicy" has property "PolicyDocument.Statement.0.Condition.Bool"

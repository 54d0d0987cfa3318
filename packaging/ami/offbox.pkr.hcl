# An EC2 image (AMI) with the offbox agent installed and no credential of
# any kind: each instance enrolls on first boot with a one-time token given
# in its user-data (cloud-init.yaml beside this file), generating its key
# there. Build the agent package first, then the image:
#
#   make packages
#   packer init packaging/ami
#   packer build -var deb=dist/offbox_VERSION-1_amd64.deb packaging/ami
#
# (-var arch=arm64 with the arm64 .deb for Graviton). AWS credentials come
# from the environment Packer runs in (AWS_PROFILE, instance role), never
# from this file.

packer {
  required_plugins {
    amazon = {
      version = ">= 1.3.0"
      source  = "github.com/hashicorp/amazon"
    }
  }
}

variable "deb" {
  type        = string
  description = "The agent package to install (make packages): dist/offbox_VERSION-1_ARCH.deb"
}

variable "arch" {
  type        = string
  default     = "amd64"
  description = "amd64 or arm64; must match the package"
}

variable "region" {
  type    = string
  default = "eu-west-1"
}

variable "instance_type" {
  type        = string
  default     = "t3.micro"
  description = "A type of the same architecture as arch (t4g.micro for arm64)"
}

locals {
  stamp    = formatdate("YYYYMMDDhhmmss", timestamp())
  ec2_arch = var.arch == "arm64" ? "arm64" : "x86_64"
}

# Debian's own Debian 12 (bookworm) images, published by the Debian cloud
# team's AWS account.
source "amazon-ebs" "debian12" {
  region        = var.region
  instance_type = var.instance_type
  ssh_username  = "admin"
  ami_name      = "offbox-agent-debian-12-${var.arch}-${local.stamp}"
  imds_support  = "v2.0"

  source_ami_filter {
    filters = {
      name                = "debian-12-${var.arch}-*"
      architecture        = local.ec2_arch
      root-device-type    = "ebs"
      virtualization-type = "hvm"
    }
    owners      = ["136693071363"]
    most_recent = true
  }

  tags = {
    Name     = "offbox-agent-debian-12-${var.arch}"
    base_ami = "{{ .SourceAMIName }}"
    offbox   = "agent, enrolls on first boot"
  }
}

build {
  sources = ["source.amazon-ebs.debian12"]

  provisioner "file" {
    source      = var.deb
    destination = "/tmp/offbox.deb"
  }

  provisioner "shell" {
    inline = [
      "set -eu",
      "sudo apt-get update -qq",
      "sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq /tmp/offbox.deb",
      "rm -f /tmp/offbox.deb",
      # First boot: offbox-enroll.service enrolls with the token from the
      # user-data, then offbox.service starts (both also enabled by the
      # package; said again here so the image does not depend on it).
      "sudo systemctl enable offbox-enroll.service offbox.service",
      # The image must carry no credential: fail the build if one is there.
      "sudo sh -c 'for f in /var/lib/offbox/device.pem /var/lib/offbox/device-key.pem /etc/offbox/enroll-token /etc/offbox/enroll.env; do if [ -e $f ]; then echo credential in image: $f; exit 1; fi; done'",
      # Instances run cloud-init afresh, with their own user-data.
      "sudo cloud-init clean --logs",
    ]
  }
}
